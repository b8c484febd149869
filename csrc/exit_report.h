// What the addon hands JS about a sandbox: its exit report (NativeExitReport in lib/native.ts),
// from init's records, or the failure that kept it from starting.
#pragma once
#include <napi.h>
#include <signal.h>
#include <sys/resource.h>

#include <string>
#include <vector>

#include "wire.h"

// `si` and `ru`: how the process Node waited for ended (a one-shot init; for a warm sandbox's run,
// made up from the records), `records`: every report read from it.
Napi::Value exit_object(Napi::Env env, const siginfo_t &si, const struct rusage &ru, const std::vector<wire::Report> &records);

// Throws an Error with `stage`, `errno` and `detail` (lib/failure.ts makes the SandboxError) and
// returns undefined.
Napi::Value throw_failure(Napi::Env env, const std::string &stage, const std::string &detail, int err);
