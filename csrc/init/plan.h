// The launch plan as init sees it: pointers into one buffer read from the plan memfd.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

struct MountSpec {
  uint32_t op;
  uint32_t flags;
  const char *src;
  const char *dst;
  const char *data;
};

struct RlimitSpec {
  uint32_t resource;
  rlim_t soft;
  rlim_t hard;
};

struct Plan {
  uint32_t namespaces;
  uint32_t uid;
  uint32_t gid;
  bool parent_writes_maps;
  bool tty;
  const char *uid_map;
  const char *gid_map;
  const char *hostname;
  const char *cwd;
  char **argv;  // NULL-terminated
  char **envp;  // NULL-terminated
  uint32_t nmounts;
  MountSpec *mounts;
  uint32_t nrlimits;
  RlimitSpec *rlimits;
  uint32_t seccomp_len;  // bytes
  const uint8_t *seccomp;
};

// Reads and checks the plan from `fd`. Returns 0 or -errno (EINVAL for a malformed plan).
int read_plan(int fd, Plan *plan);
