// One run's life inside the sandbox: its command forked and exec'd, its tree reaped, its report.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include "../wire.h"
#include "plan.h"
#include "report.h"

// Whether a signal the parent sends to init belongs to the command (forwarded to it).
bool is_forwarded(int sig);

// Moves the calling process into the cgroup whose `tasks` (v1) or `cgroup.procs` file `fd` is, by
// writing "0": a single-threaded task moving itself takes no global lock (spawn.cc). 0 or errno.
int join_cgroup(int fd);

// Moves init into the cgroups whose files are open from wire::kFirstCgroupFd up (a sandbox whose
// init counts against its run's limits: `pids: 1`).
void join_cgroups();

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

// Starts a run received as `fds` (wire::RunRequest: plan, report pipe, stdin, stdout, stderr,
// cgroup files): forks the command and reports its execve, or why it did not happen, on the
// run's pipe. The received fds are closed here, but the report pipe, which `run` keeps.
void start_run(Run *run, const int *fds, int count);

// Reaps what has ended (everything, waiting, with `wait_all`), adding what each used to the run.
void reap_some(Run *run, bool wait_all);
