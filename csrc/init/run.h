// One command's life inside the sandbox: fork, execve, reap, report.
#pragma once
#include "plan.h"

// Moves the calling process into the cgroups whose files are open from wire::kFirstCgroupFd up.
void join_cgroups();

// Forks the command (command.cc), reports its execve on wire::kReportFd, then reaps: forwards the
// parent's signals to it, reaps orphans, and when it ends (or on the parent's terminate signal)
// SIGKILLs everything else this process may signal, reaps it all and reports the command's status
// with the rusage of the whole tree. Exits. The caller is pid 1 (a one-shot sandbox) or a warm
// sandbox's run leader (serve.cc), a child subreaper: either way the tree's orphans come to it.
[[noreturn]] void run_command(const Plan &plan, bool lent_netns);
