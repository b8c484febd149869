// One command's life inside the sandbox: fork, execve, reap, report.
#pragma once
#include <stdint.h>

#include "../wire.h"
#include "plan.h"

// Whether a signal the parent sends to init belongs to the command (forwarded to it).
bool is_forwarded(int sig);

// Reads the command child's CLOEXEC exec pipe (command.cc) to its EOF. *started: the moment of its
// execve (now, when it did not say). true with *rec: it never ran, *rec says why.
bool exec_failed(int fd, uint64_t *started, wire::Report *rec);

// Moves the calling process into the cgroup whose `tasks` (v1) or `cgroup.procs` file `fd` is, by
// writing "0": a single-threaded task moving itself takes no global lock (spawn.cc). 0 or errno.
int join_cgroup(int fd);

// Moves the calling process into the cgroups whose files are open from wire::kFirstCgroupFd up.
void join_cgroups();

// Forks the command (command.cc), reports its execve on wire::kReportFd, then reaps: forwards the
// parent's signals to it, reaps orphans, and when it ends (or on the parent's terminate signal)
// SIGKILLs everything else this process may signal, reaps it all and reports the command's status
// with the rusage of the whole tree. Exits. The caller is a one-shot sandbox's init, pid 1: the
// tree's orphans come to it.
[[noreturn]] void run_command(const Plan &plan, bool lent_netns);
