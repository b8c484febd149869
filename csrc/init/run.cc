// One command's life inside the sandbox (see run.h). Shared by a one-shot sandbox's init and a
// warm sandbox's run leaders (serve.cc).
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../wire.h"
#include "command.h"
#include "report.h"
#include "setup.h"

// Moves init into the sandbox's cgroups: fds from wire::kFirstCgroupFd up are their `tasks` (v1)
// or `cgroup.procs` files, opened by the parent, present when clone could not place init itself.
// "0" is the writer: a single-threaded task moving itself takes no global lock (spawn.cc).
void join_cgroups() {
  for (int fd = wire::kFirstCgroupFd; fd < wire::kFirstCgroupFd + wire::kMaxCgroupFds; fd++) {
    if (fcntl(fd, F_GETFD) < 0) break;  // the first closed one ends the list
    ssize_t n;
    do n = write(fd, "0", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) die("cgroup", n < 0 ? errno : EIO, "join the sandbox's cgroup (fd %d)", fd);
    close(fd);
  }
}

namespace {

// Signals the sandbox's parent may send to pid 1 that belong to the command.
const int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH, SIGALRM, SIGTSTP};

[[noreturn]] void reap(pid_t command, bool lent_netns) {
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
      for (int f : kForwarded) {
        if (f == sig) kill(command, sig);
      }
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
  // The command is gone: nothing it started may outlive it (CONTRACT.md).
  kill(-1, SIGKILL);
  while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  // Everything else in the sandbox is gone: what is left in a lent network namespace stays there.
  report_exit(wire::kReportFd, status, ended, lent_netns && netns_empty());
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
  // The command's child writes the time of its execve, then either nothing (EOF: it exec'd)
  // or an error record.
  uint64_t started = 0;
  wire::Report rec;
  ssize_t n;
  do n = read(errpipe[0], &started, sizeof started);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof started) started = now_ns();
  do n = read(errpipe[0], &rec, sizeof rec);
  while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof rec) {
    // The command never ran: pass its record on, reap it, and stop.
    ssize_t w;
    do w = write(wire::kReportFd, &rec, sizeof rec);
    while (w < 0 && errno == EINTR);
    waitpid(command, nullptr, 0);
    _exit(1);
  }
  close(errpipe[0]);
  report_started(wire::kReportFd, command, started);
  // Init keeps no end of the command's stdio: the parent sees EOF when the command's tree closes it.
  close(0);
  close(1);
  close(2);
  reap(command, lent_netns);
}
