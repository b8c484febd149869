// Builds the sandbox's filesystem from the plan's mount list and pivots into it.
#pragma once
#include "plan.h"

// Runs in init, in its own mount namespace, after the id maps are written. Ends with the new
// root as "/" and the host's root detached. Dies (reporting stage and errno) on failure.
void setup_mounts(const Plan &plan);

// A warm sandbox between two runs (serve.cc): every tmpfs of the plan and /dev/shm is replaced by
// a new empty one, and the directories the plan made in them are made again. With /dev and the
// root read-only, these are all the places a run can write that are not the caller's own binds.
void reset_writable_mounts(const Plan &plan);

// What the run left in the plan's tmpfs mounts and /dev/shm, in bytes: tmpfs pages are memory that
// no rlimit counts, so without a cgroup the parent adds them to the memory figure.
uint64_t tmpfs_used_bytes(const Plan &plan);
