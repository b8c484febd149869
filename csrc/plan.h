// The launch plan in plain C++ data, converted from the JS NativePlan before anything forks.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

struct LaunchSpec {
  std::string blob;  // the plan in wire format (wire.h), for init
  int stdio[3] = {-1, -1, -1};
  int cgroup_fd = -1;
  // A network namespace lent from the pool (csrc/netns.h), entered around clone; -1: init makes one.
  int netns_fd = -1;
  // The cgroup files (v1 `tasks`, v2 `cgroup.procs`) init joins by writing "0" to them: each a path
  // the addon opens, or an fd the caller opened ahead (fd >= 0: borrowed, never closed here).
  struct CgroupJoin {
    std::string path;
    int fd = -1;
  };
  std::vector<CgroupJoin> cgroup_procs;
  bool parent_writes_maps = false;
  // The maps are written by newuidmap/newgidmap, run by the JS side after launch; it then
  // releases the init (release() in addon.cc).
  bool defer_release = false;
  std::string uid_map;
  std::string gid_map;
};

// Converts and checks a NativePlan. Returns an empty string, or "Expected X for Y but received Z".
// `for_run`: the plan of a run, which has no mounts (the sandbox was built with them).
std::string plan_from_js(const Napi::Object &js, LaunchSpec *spec, bool for_run = false);
