// Starting a sandbox: clone the init with new user and pid namespaces, hand it its fds, let it go.
#pragma once
#include <sys/types.h>

#include <string>

#include "plan.h"

struct Launched {
  pid_t pid = -1;
  int pidfd = -1;
  int report_fd = -1;  // the parent's end of init's report socket (non-blocking, CLOEXEC)
  int sync_fd = -1;    // write end of the "go" pipe, when the release was deferred
};

struct LaunchFailure {
  std::string stage;   // "clone", "userns", "cgroup", ...
  std::string detail;  // what it was doing, e.g. "write /proc/123/uid_map"
  int err = 0;
};

// Opens the embedded init binary once (a sealed memfd). Returns 0 or -errno.
int prepare_init_binary();

// Returns 0 with `out` filled, or -errno with `fail` filled. Never leaves a process behind on error.
int launch_sandbox(const LaunchSpec &spec, Launched *out, LaunchFailure *fail);
