// The command's own process: the last steps before its execve.
#pragma once
#include "plan.h"

// Runs in the child init forks for the command. Never returns: it execs, or writes an error
// record to `err_fd` (CLOEXEC, so EOF there means the execve succeeded) and exits 127.
[[noreturn]] void exec_command(const Plan &plan, int err_fd);

// Default signal dispositions and an empty capability bounding set for this process, so that the
// commands forked from it later start from there: a sandbox's init does it once for all its
// runs (init itself never execs again, so the bounding set means nothing to it).
void settle_inheritance();
