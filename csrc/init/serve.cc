// A warm sandbox (the Sandbox `pool` option): init builds the namespaces and the filesystem once,
// then serves runs sent by the parent over wire::kReportFd, a SOCK_SEQPACKET socket here.
//
// A run is a message with fds: the run's plan (memfd), its own report pipe, its stdio and its
// cgroup files. Init forks the command's process, which joins the run's fresh cgroups, reads the
// plan, gets a new cgroup namespace and does what a one-shot's command does (command.cc). Init
// stays its reaper, as pid 1 (which nothing inside can kill): it forwards the parent's signals to
// the command, reaps the whole tree with wait4 (summing what each process used, so the run's CPU
// and peak memory are its own), SIGKILLs whatever is left when the command ends, reports on the
// run's pipe and closes it (its EOF tells the parent that the run's cgroups are empty). Then, off
// the next run's path: every writable mount is replaced (mounts.cc, reset_writable_mounts), a new
// IPC namespace made, the network namespace checked empty (else init exits: the parent starts
// another warm sandbox), and init says "ready".
//
// What one run could leave for the next, and why it cannot: processes (all SIGKILLed and reaped
// before "ready"); files (the root and /dev are read-only, every tmpfs and /dev/shm is new; the
// caller's own read-write binds are the caller's, as between one-shot sandboxes); SysV IPC and
// POSIX message queues (a new IPC namespace per run); sockets, TIME_WAIT entries, fragments
// (netns_empty(), as for a pooled network namespace); the hostname, mounts, routes (the command
// has no capabilities); memory and CPU counters (a new cgroup per run); keyrings (seccomp denies
// keyctl and add_key). What a run can see of earlier ones: the pid numbers go on increasing.
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../run_message.h"
#include "../wire.h"
#include "command.h"
#include "mounts.h"
#include "report.h"
#include "run.h"
#include "setup.h"

namespace {

// struct signalfd_siginfo is 128 bytes; only the number is read.
struct SignalInfo {
  uint32_t signo;
  uint8_t rest[124];
};

// One run request: its fds in `fds` (CLOEXEC). The count, 0 when the parent closed the socket
// (the pool is closing), or -errno.
int receive_run(int *fds) {
  RunMessage m;
  long n;
  do n = syscall(SYS_recvmsg, wire::kReportFd, &m.mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  int count = 0;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m.mh);
  if (c != nullptr && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    memcpy(fds, CMSG_DATA(c), count * sizeof(int));
  }
  if (n == 0 && count == 0) return 0;
  if (n != (long)sizeof m.req || m.req.magic != wire::kMagic || (int)m.req.nfds != count || count < wire::kRunFixedFds ||
      (m.mh.msg_flags & MSG_CTRUNC)) {
    for (int i = 0; i < count; i++) close(fds[i]);
    return -EINVAL;
  }
  return count;
}

// The run in progress.
struct Run {
  pid_t command = -1;
  int report = -1;  // the run's report pipe, kept until everything of the run has been reaped
  bool ended = false;
  bool failed = false;  // it never ran: the reason is on the report pipe already
  int status = 0;
  uint64_t ended_ns = 0;
  TreeUsage tree;
};

// In the command's process (a fork of init): the run's cgroups, stdio and plan, then command.cc.
// `fds` as received: plan, report, stdin, stdout, stderr, cgroup files. Failures go to `err_fd`,
// the exec pipe init reads (run.h, exec_failed).
[[noreturn]] void start_command(const int *fds, int count, int err_fd) {
  // Kept clear of 0-2, which the stdio take below.
  if (err_fd < 3) err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 3);
  // The command is scheduled as any process is (init itself is SCHED_BATCH: serve()).
  int normal = 0;
  syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &normal);
  for (int i = wire::kRunFixedFds; i < count; i++) {
    if (int e = join_cgroup(fds[i])) {
      report_error(err_fd, "cgroup", e, "join the run's cgroup");
      _exit(127);
    }
  }
  Plan plan;
  memset(&plan, 0, sizeof plan);
  int r = read_plan(fds[0], &plan);
  if (r < 0) {
    report_error(err_fd, "plan", -r, "read the run's plan");
    _exit(127);
  }
  // After joining: the run's cgroup is the root of what it sees, as in a one-shot.
  if ((plan.namespaces & wire::kNsCgroup) && unshare(CLONE_NEWCGROUP) < 0) {
    report_error(err_fd, "unshare", errno, "create the run's cgroup namespace");
    _exit(127);
  }
  if (chdir(plan.cwd) < 0) {
    report_error(err_fd, "chdir", errno, "change directory to %s", plan.cwd);
    _exit(127);
  }
  // stdio into 0-2 (received CLOEXEC, at any number: dup3 with no flag clears it on the copy).
  int high[3];
  for (int i = 0; i < 3; i++) high[i] = fcntl(fds[2 + i], F_DUPFD_CLOEXEC, 3);
  for (int i = 0; i < 3; i++) {
    if (high[i] < 0 || syscall(SYS_dup3, high[i], i, 0) < 0) {
      report_error(err_fd, "fds", errno, "pass the run's stdio");
      _exit(127);
    }
  }
  exec_command(plan, err_fd);
}

// Starts a run: forks the command and reports its execve (or why it did not happen) on the run's
// pipe. The received fds are closed here, but the report pipe, which `run` keeps.
void start_run(Run *run, const int *fds, int count) {
  run->report = fds[1];
  int errpipe[2] = {-1, -1};
  pid_t pid = pipe2(errpipe, O_CLOEXEC) < 0 ? -1 : fork();
  if (pid == 0) {
    close(errpipe[0]);
    start_command(fds, count, errpipe[1]);
  }
  int e = errno;
  for (int i = 0; i < count; i++) {
    if (i != 1) close(fds[i]);
  }
  if (pid < 0) {
    if (errpipe[0] >= 0) {
      close(errpipe[0]);
      close(errpipe[1]);
    }
    report_error(run->report, "fork", e, "fork the command");
    run->ended = run->failed = true;
    return;
  }
  close(errpipe[1]);
  uint64_t started;
  wire::Report rec;
  bool failed = exec_failed(errpipe[0], &started, &rec);
  close(errpipe[0]);
  run->command = pid;
  if (failed) {
    run->failed = true;
    ssize_t w;
    do w = write(run->report, &rec, sizeof rec);  // < PIPE_BUF: whole or not at all
    while (w < 0 && errno == EINTR);
    return;  // its exit 127 ends the run
  }
  // Nothing of init's is in the run's cgroup: no setup CPU to subtract.
  report_started(run->report, pid, started, TreeUsage());
}

// Reaps what has ended, adding what each used to the run's tree.
void reap_some(Run *run, bool wait_all) {
  for (;;) {
    int st;
    struct rusage ru;
    pid_t pid = (pid_t)syscall(SYS_wait4, -1, &st, wait_all ? 0 : WNOHANG, &ru);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    if (run->command < 0) continue;
    add_usage(&run->tree, ru);
    if (pid == run->command && !run->ended) {
      run->ended = true;
      run->status = st;
      run->ended_ns = now_ns();
    }
  }
}

void say_ready() {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = wire::kReportReady;
  r.t_ns = now_ns();
  // MSG_NOSIGNAL: a parent that closed the socket is seen at the next receive.
  while (syscall(SYS_sendto, wire::kReportFd, &r, sizeof r, MSG_NOSIGNAL, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

void serve(const Plan &plan) {
  // The member's own stdio is not used: each run brings its own.
  close(0);
  close(1);
  close(2);
  settle_inheritance();
  // SCHED_BATCH: a run sent by the parent wakes init without preempting the parent's thread (the
  // event loop, which may have more runs to finish in the same turn); init takes the run when that
  // thread sleeps or another CPU is free. The command is reset to SCHED_OTHER (start_command).
  int batch = 0;
  syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &batch);
  sigset_t all;
  sigfillset(&all);
  int sigfd = (int)syscall(SYS_signalfd4, -1, &all, sizeof(uint64_t), O_CLOEXEC | O_NONBLOCK);
  if (sigfd < 0) die("serve", errno, "create a signalfd");
  say_ready();
  Run run;
  bool busy = false;
  for (;;) {
    struct pollfd p[2] = {{sigfd, POLLIN, 0}, {wire::kReportFd, (short)(busy ? 0 : POLLIN), 0}};
    if (poll(p, 2, -1) < 0) continue;  // EINTR
    // Signals first: one the parent sent for a run that has ended is dropped here, before the
    // next run's request is read.
    SignalInfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
      int sig = (int)si.signo;
      if (sig == SIGCHLD) reap_some(&run, false);
      else if (!busy || run.ended) continue;
      else if (sig == wire::kTerminateSignal) kill(-1, SIGKILL);  // the command's end follows
      else if (is_forwarded(sig)) kill(run.command, sig);
    }
    if (busy && run.ended) {
      // The command is gone: nothing it started may outlive it (docs/security.md).
      kill(-1, SIGKILL);
      reap_some(&run, true);
      if (!run.failed) report_exit(run.report, run.status, run.ended_ns, false, run.tree, tmpfs_used_bytes(plan));
      close(run.report);
      run = Run();
      busy = false;
      reset_writable_mounts(plan);
      // SysV IPC objects and message queues live in the IPC namespace: each run gets a new one,
      // made here, off the next run's path (the old one goes with its last process).
      if ((plan.namespaces & wire::kNsIpc) && unshare(CLONE_NEWIPC) < 0) die("reset", errno, "create a new IPC namespace");
      // Sockets or TIME_WAIT entries left: this namespace is not handed on; the parent starts
      // another warm sandbox.
      if ((plan.namespaces & wire::kNsNet) && !netns_empty()) _exit(0);
      say_ready();
      continue;
    }
    if (busy || !(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    int fds[wire::kMaxRunFds];
    int n = receive_run(fds);
    if (n == 0) {  // the pool is closing
      kill(-1, SIGKILL);
      reap_some(&run, true);
      _exit(0);
    }
    if (n < 0) die("serve", -n, "receive a run");
    busy = true;
    start_run(&run, fds, n);
    // A command that failed before its execve may have been reaped already.
    reap_some(&run, false);
  }
}
