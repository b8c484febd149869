// Runs on a warm sandbox (the Sandbox `pool` option): the parent's side of init/serve.cc.
#pragma once
#include <napi.h>

// runIn(pid, plan, onExit, onStart) with `socket_fd`, the warm sandbox's channel (its init's
// report socket): sends the run (its plan in a memfd, a new report pipe, its stdio and cgroup
// files) and watches the run's report pipe on the event loop. onStart(execveNs, setupCpuUs) when
// the command has exec'd, onExit(exit) once, as for launch(). Throws when the run cannot be sent.
Napi::Value RunIn(const Napi::CallbackInfo &info, int socket_fd);
