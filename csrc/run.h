// A run on a sandbox: the parent's side of init/serve.cc.
#pragma once
#include <napi.h>

// runIn(pid, plan, onEnd, onStart) with `socket_fd`, the sandbox's channel (its init's report
// socket): sends the run (its plan in a memfd, a new report pipe, its stdio and cgroup files) and
// watches the run's report pipe on the event loop. onStart(execveNs) when the command has exec'd,
// onEnd(end) once, with run_end_object() (exit_report.h). Throws when the run cannot be sent.
Napi::Value RunIn(const Napi::CallbackInfo &info, int socket_fd);
