// What the addon hands JS about a run and a sandbox: how each ended (lib/native.ts), from init's
// records, or the failure that kept it from starting.
#pragma once
#include <napi.h>
#include <signal.h>

#include <string>
#include <vector>

#include "wire.h"

// A run's end (NativeRunEnd), from the records on its report pipe: its command's wait status and
// usage, or the setup error that kept it from running; neither when the sandbox itself was killed.
Napi::Value run_end_object(Napi::Env env, const std::vector<wire::Report> &records);

// A sandbox's end (NativeSandboxEnd): how its init ended (`si`, from waitid) and the setup error
// it reported, if any.
Napi::Value sandbox_end_object(Napi::Env env, const siginfo_t &si, const std::vector<wire::Report> &records);

// Throws an Error with `stage`, `errno` and `detail` (lib/setup-error.ts makes the SandboxError) and
// returns undefined.
Napi::Value throw_failure(Napi::Env env, const std::string &stage, const std::string &detail, int err);
