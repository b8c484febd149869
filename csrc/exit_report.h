// The exit report handed to JS (NativeExitReport in lib/native.ts), from init's records.
#pragma once
#include <napi.h>
#include <signal.h>
#include <sys/resource.h>

#include <vector>

#include "wire.h"

// `si` and `ru`: how the process Node waited for ended (a one-shot init; for a warm sandbox's run,
// made up from the records), `records`: every report read from it.
Napi::Value exit_object(Napi::Env env, const siginfo_t &si, const struct rusage &ru, const std::vector<wire::Report> &records);
