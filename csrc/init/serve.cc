// A warm sandbox (the Sandbox `pool` option): init builds the namespaces and the filesystem once,
// then serves runs sent by the parent over wire::kReportFd, a SOCK_SEQPACKET socket here.
//
// Each run gets a leader: a fork of init that takes the run's fds (plan, report pipe, stdio,
// cgroup files) in the slots a one-shot init has them, joins the run's fresh cgroups, gets a new
// cgroup namespace, becomes a child subreaper, and then does what a one-shot
// init does (run.cc): forks the command, reports to the run's own pipe, reaps the whole tree,
// SIGKILLs whatever is left, reports the end and exits. Init itself only forwards the parent's
// signals to the leader, and when the leader is gone: SIGKILLs anything left in the pid
// namespace, replaces every writable mount (mounts.cc, reset_writable_mounts) and the IPC
// namespace, checks that the
// network namespace holds nothing (else it exits: the parent starts another), and says "ready".
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

// The run leader (see the top). `fds` as received: plan, report, stdin, stdout, stderr, cgroups.
[[noreturn]] void lead(const int *fds, int count, int sigfd) {
  close(sigfd);
  close(wire::kReportFd);  // the parent's socket: this process reports to the run's own pipe
  int slots[wire::kMaxRunFds] = {wire::kPlanFd, wire::kReportFd, 0, 1, 2};
  for (int i = wire::kRunFixedFds; i < count; i++) slots[i] = wire::kFirstCgroupFd + i - wire::kRunFixedFds;
  // Above every slot first, so that no source is overwritten by an earlier target.
  int high[wire::kMaxRunFds];
  for (int i = 0; i < count; i++) {
    high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 32);
    if (high[i] < 0) _exit(1);  // no report pipe in place yet: the parent sees EOF
    close(fds[i]);
  }
  for (int i = 0; i < count; i++) {
    // The plan and the report pipe stay out of the command (CLOEXEC), stdio and cgroup files
    // are the slots join_cgroups() and exec_command() expect.
    bool keep_out = slots[i] == wire::kPlanFd || slots[i] == wire::kReportFd;
    if (syscall(SYS_dup3, high[i], slots[i], keep_out ? O_CLOEXEC : 0) < 0) _exit(1);
    close(high[i]);
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die("prctl", errno, "become the run's subreaper");
  join_cgroups();
  Plan plan;
  memset(&plan, 0, sizeof plan);
  int r = read_plan(wire::kPlanFd, &plan);
  if (r < 0) die("plan", -r, "read the run's plan");
  close(wire::kPlanFd);
  // The cgroup namespace is made after joining, so the run's cgroup is its root, as in a one-shot.
  if ((plan.namespaces & wire::kNsCgroup) && unshare(CLONE_NEWCGROUP) < 0) die("unshare", errno, "create the run's cgroup namespace");
  if (chdir(plan.cwd) < 0) die("chdir", errno, "change directory to %s", plan.cwd);
  run_command(plan, false);
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

[[noreturn]] void end_all(int status) {
  kill(-1, SIGKILL);
  while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  _exit(status);
}

}  // namespace

void serve(const Plan &plan) {
  // The member's own stdio is not used: each run brings its own.
  close(0);
  close(1);
  close(2);
  settle_inheritance();
  sigset_t all;
  sigfillset(&all);
  int sigfd = (int)syscall(SYS_signalfd4, -1, &all, sizeof(uint64_t), O_CLOEXEC | O_NONBLOCK);
  if (sigfd < 0) die("serve", errno, "create a signalfd");
  say_ready();
  pid_t leader = -1;
  // The run's report pipe, kept open until its leader has been reaped: its EOF tells the parent that
  // everything of the run has ended and left the run's cgroups (the leader's own exit record comes
  // before it leaves them), so they can be removed at once.
  int run_report = -1;
  for (;;) {
    struct pollfd p[2] = {{sigfd, POLLIN, 0}, {wire::kReportFd, (short)(leader < 0 ? POLLIN : 0), 0}};
    if (poll(p, 2, -1) < 0) continue;  // EINTR
    // Signals first: one the parent sent for a run that has ended is dropped here, before the
    // next run's request is read.
    bool leader_done = false;
    SignalInfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
      if (si.signo == SIGCHLD) {
        pid_t pid;
        while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) {
          if (pid == leader) leader_done = true;
        }
      } else if (leader > 0 && !leader_done) {
        kill(leader, (int)si.signo);  // the terminate signal and those for the command
      }
    }
    if (leader_done) {
      leader = -1;
      // A leader killed before its own sweep (the parent's grace period) leaves the tree here.
      kill(-1, SIGKILL);
      while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
      }
      close(run_report);
      run_report = -1;
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
    if (leader >= 0 || !(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    int fds[wire::kMaxRunFds];
    int n = receive_run(fds);
    if (n == 0) end_all(0);  // the pool is closing
    if (n < 0) die("serve", -n, "receive a run");
    leader = fork();
    if (leader == 0) lead(fds, n, sigfd);
    if (leader < 0) report_error(fds[1], "fork", errno, "fork the run's leader");
    for (int i = 0; i < n; i++) {
      if (i != 1 || leader < 0) close(fds[i]);
    }
    if (leader < 0) say_ready();
    else run_report = fds[1];
  }
}
