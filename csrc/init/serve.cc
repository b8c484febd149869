// init serves runs, one or many: it builds the namespaces and the filesystem once, then takes
// runs sent by the parent over wire::kReportFd, a SOCK_SEQPACKET socket.
//
// A run is a message with fds: the run's plan (memfd), its own report pipe, its stdio and its
// cgroup files. Init forks the command's process, which joins the run's fresh cgroups, reads the
// plan, gets a new cgroup namespace and execs the command (run.cc, command.cc). Init stays its
// reaper, as pid 1 (which nothing inside can kill): it forwards the parent's signals to the
// command, reaps the whole tree with wait4 (summing what each process used, so the run's CPU and
// peak memory are its own), SIGKILLs whatever is left when the command ends, reports on the run's
// pipe and closes it (its EOF tells the parent that the run's cgroups are empty). When the parent
// has shut its side of the socket (no more runs), init exits there. Otherwise, off the next run's
// path: every writable mount is replaced (mounts.cc, reset_writable_mounts), a new IPC namespace
// made, the network namespace checked empty (else init exits: the parent starts another
// sandbox), and init says "ready".
//
// What one run could leave for the next, and why it cannot: processes (all SIGKILLed and reaped
// before "ready"); files (the root and /dev are read-only, every tmpfs and /dev/shm is new; the
// caller's own read-write binds are the caller's, as between two sandboxes); SysV IPC and
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

// One run request: its fds in `fds` (CLOEXEC). The count, 0 when the parent has shut its side of
// the socket (no more runs), or -errno.
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

void say_ready() {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = wire::kReportReady;
  r.t_ns = now_ns();
  // MSG_NOSIGNAL: a parent that closed the socket is seen at the next receive.
  while (syscall(SYS_sendto, wire::kReportFd, &r, sizeof r, MSG_NOSIGNAL, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Whether the parent has shut its side of the socket with no run left in it: this run was the last.
bool no_more_runs() {
  char b;
  long n;
  do n = syscall(SYS_recvfrom, wire::kReportFd, &b, 1, MSG_PEEK | MSG_DONTWAIT, nullptr, nullptr);
  while (n < 0 && errno == EINTR);
  return n == 0;
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
    // A run that ended at its start (its fork failed) has no SIGCHLD to wait for.
    if (poll(p, 2, busy && run.ended ? 0 : -1) < 0) continue;  // EINTR
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
      // A network namespace lent by the parent goes back to its pool: whether it holds nothing
      // is part of the report (the parent hands it on only then).
      bool lent = (plan.namespaces & wire::kNsNetLent) != 0;
      bool lent_empty = lent && netns_empty();
      if (!run.failed) report_exit(run.report, run.status, run.ended_ns, lent_empty, run.tree, tmpfs_used_bytes(plan));
      close(run.report);
      run = Run();
      busy = false;
      if (no_more_runs() || (lent && !lent_empty)) _exit(0);
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
    if (n == 0) {  // no more runs
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
