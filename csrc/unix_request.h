// The receiving end of the `sandbox` client's request (csrc/client/client.c): the peer's
// credentials and the fds it passes, which Node's net module cannot read from a unix socket.
#pragma once
#include <napi.h>

// recvRequest(fd) → { uid, gid, pid, fds, data } | null (nothing to read yet).
Napi::Value RecvRequest(const Napi::CallbackInfo &info);
