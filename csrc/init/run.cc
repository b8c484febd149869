// One run's life inside the sandbox (see run.h). init (serve.cc) stays the reaper of the run's
// tree, as pid 1, which nothing inside can kill.
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "report.h"

int join_cgroup(int fd) {
  ssize_t n;
  do n = write(fd, "0", 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : (n < 0 ? errno : EIO);
}

void join_cgroups() {
  for (int fd = wire::kFirstCgroupFd; fd < wire::kFirstCgroupFd + wire::kMaxCgroupFds; fd++) {
    if (fcntl(fd, F_GETFD) < 0) break;  // the first closed one ends the list
    if (int e = join_cgroup(fd)) die("cgroup", e, "join the sandbox's cgroup (fd %d)", fd);
    close(fd);
  }
}

bool is_forwarded(int sig) {
  // Signals the sandbox's parent may send to pid 1 that belong to the command.
  static const int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH, SIGALRM, SIGTSTP};
  for (int f : kForwarded) {
    if (f == sig) return true;
  }
  return false;
}

namespace {

// Reads the command's CLOEXEC exec pipe (command.cc) to its EOF. *started: the moment of its
// execve (now, when it did not say). true with *rec: it never ran, *rec says why.
bool exec_failed(int fd, uint64_t *started, wire::Report *rec) {
  // The time (8 bytes) once the command is about to execve, an error record instead of it when a
  // step before failed, or both when the execve itself failed.
  char buf[sizeof(uint64_t) + sizeof(wire::Report)];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  *started = now_ns();
  if (got == sizeof(uint64_t) || got == sizeof buf) memcpy(started, buf, sizeof(uint64_t));
  if (got == sizeof(wire::Report)) memcpy(rec, buf, sizeof *rec);
  else if (got == sizeof buf) memcpy(rec, buf + sizeof(uint64_t), sizeof *rec);
  else return false;
  return true;
}

// A terminal run's stdio is the host's pty as the parent opened it, whose name (/dev/pts/N of the
// host's devpts) is not visible inside. init binds that pty at /dev/pts/0 of the sandbox's own
// devpts (mounts.cc): the stdio that is that terminal is reopened by that name, so that
// ttyname(3) and tty(1) name it. Cosmetic: without the bind the fds stay as they are.
void reopen_terminal() {
  int t = openat(AT_FDCWD, "/dev/pts/0", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (t < 0) return;
  struct stat want, have;
  if (fstat(t, &want) == 0) {
    for (int fd = 0; fd <= 2; fd++) {
      if (fstat(fd, &have) == 0 && S_ISCHR(have.st_mode) && have.st_rdev == want.st_rdev) syscall(SYS_dup3, t, fd, 0);
    }
  }
  close(t);
}

// In the command's process (a fork of init): the run's cgroups, stdio and plan, then command.cc.
// Failures go to `err_fd`, the exec pipe init reads (exec_failed).
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
  // After joining: the run's cgroup is the root of what it sees.
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
  if (plan.tty) reopen_terminal();
  exec_command(plan, err_fd);
}

}  // namespace

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
  report_started(run->report, pid, started);
}

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
