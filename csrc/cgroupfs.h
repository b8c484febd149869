// cgroupfs I/O for lib/cgroup/files.ts: whole-file reads and one-write(2) writes (cgroupfs.cc).
#pragma once
#include <napi.h>

Napi::Value ReadSmallFile(const Napi::CallbackInfo &info);
Napi::Value WriteSmallFile(const Napi::CallbackInfo &info);
