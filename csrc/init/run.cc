// One command's life inside a one-shot sandbox (see run.h), and the steps a warm sandbox's init
// (serve.cc) shares with it: joining a cgroup, the exec pipe, which signals are the command's.
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../wire.h"
#include "command.h"
#include "mounts.h"
#include "report.h"
#include "setup.h"

int join_cgroup(int fd) {
  ssize_t n;
  do n = write(fd, "0", 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : (n < 0 ? errno : EIO);
}

// Moves init into the sandbox's cgroups: fds from wire::kFirstCgroupFd up are their `tasks` (v1)
// or `cgroup.procs` files, opened by the parent, present when clone could not place init itself.
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

bool exec_failed(int fd, uint64_t *started, wire::Report *rec) {
  // Read to EOF: the time (8 bytes) once the command is about to execve, an error record instead
  // of it when a step before failed, or both when the execve itself failed.
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

namespace {

[[noreturn]] void reap(const Plan &plan, pid_t command, bool lent_netns) {
  sigset_t all;
  sigfillset(&all);
  int status = 0;
  uint64_t ended = 0;
  bool command_done = false;
  while (!command_done) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig == wire::kTerminateSignal) {
      kill(-1, SIGKILL);
      continue;  // the command's SIGCHLD follows
    }
    if (sig != SIGCHLD) {
      if (is_forwarded(sig)) kill(command, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t pid = waitpid(-1, &st, WNOHANG);
      if (pid <= 0) break;
      if (pid == command) {
        status = st;
        ended = now_ns();
        command_done = true;
      }
    }
  }
  // The command is gone: nothing it started may outlive it (docs/security.md).
  kill(-1, SIGKILL);
  while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  // Everything else in the sandbox is gone: what is left in a lent network namespace stays there.
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  getrusage(RUSAGE_CHILDREN, &ru);
  report_exit(wire::kReportFd, status, ended, lent_netns && netns_empty(), usage_of(ru), tmpfs_used_bytes(plan));
  _exit(0);
}

}  // namespace

void run_command(const Plan &plan, bool lent_netns) {
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) die("fork", errno, "create the exec pipe");
  pid_t command = fork();
  if (command < 0) die("fork", errno, "fork the command");
  if (command == 0) {
    close(errpipe[0]);
    exec_command(plan, errpipe[1]);
  }
  close(errpipe[1]);
  uint64_t started;
  wire::Report rec;
  if (exec_failed(errpipe[0], &started, &rec)) {
    // The command never ran: pass its record on, reap it, and stop.
    ssize_t w;
    do w = write(wire::kReportFd, &rec, sizeof rec);
    while (w < 0 && errno == EINTR);
    waitpid(command, nullptr, 0);
    _exit(1);
  }
  close(errpipe[0]);
  // init's own setup ran in the sandbox's cgroup too.
  struct rusage self;
  memset(&self, 0, sizeof self);
  getrusage(RUSAGE_SELF, &self);
  report_started(wire::kReportFd, command, started, usage_of(self));
  // Init keeps no end of the command's stdio: the parent sees EOF when the command's tree closes it.
  close(0);
  close(1);
  close(2);
  reap(plan, command, lent_netns);
}
