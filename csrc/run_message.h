// The message that carries a run to a sandbox (wire::RunRequest and its fds), as both ends lay it
// out: the addon sends it (run.cc), the sandbox's init receives it (init/serve.cc).
#pragma once
#include <string.h>
#include <sys/socket.h>

#include "wire.h"

struct RunMessage {
  wire::RunRequest req;
  struct iovec iov;
  struct msghdr mh;
  union {
    char buf[CMSG_SPACE(sizeof(int) * wire::kMaxRunFds)];
    struct cmsghdr align;
  } control;

  // Points the header at the request and a control buffer for `nfds` fds (the most, to receive).
  explicit RunMessage(int nfds = wire::kMaxRunFds) {
    memset(this, 0, sizeof *this);
    iov.iov_base = &req;
    iov.iov_len = sizeof req;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  }
  RunMessage(const RunMessage &) = delete;
};
