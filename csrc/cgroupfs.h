// cgroupfs I/O for lib/cgroup/: whole-file reads, one-write(2) writes, and a cgroup's making or
// removal as a list of steps, on the caller's thread or the addon's lane (cgroupfs.cc, lane.h), and
// the serial numbers of sandbox cgroup names.
#pragma once
#include <napi.h>

Napi::Value ReadSmallFile(const Napi::CallbackInfo &info);
Napi::Value WriteSmallFile(const Napi::CallbackInfo &info);
Napi::Value CgroupSteps(const Napi::CallbackInfo &info);
Napi::Value CgroupStepsAsync(const Napi::CallbackInfo &info);
Napi::Value CgroupSerial(const Napi::CallbackInfo &info);

// At the environment's teardown, removes the cgroup directories it made and did not remove (a
// worker terminated mid-run). Added before the hook that ends the sandboxes, so it runs after it.
void remove_cgroups_at_teardown(napi_env env);
