// clone3 with a child function on its own stack, like glibc's clone() but for clone3(2):
// the child starts on `args->stack` and runs fn(arg); fn's return value is its exit status.
// Returns the child's pid in the parent, or -errno.
#pragma once
#include <linux/sched.h>
#include <stddef.h>

extern "C" long sbx_clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
