// recvRequest(fd): one recvmsg(2) on an accepted unix stream socket that Node's event loop is
// not reading (net.Server's pauseOnConnect), with the peer's SO_PEERCRED (socket(7)): the
// credentials the peer had when it connected, which it cannot forge. The fds arrive with the
// request's first bytes (unix(7): ancillary data is delivered with the first byte of the data
// it was sent with), so this call takes them all; the rest of a long request is read by Node.
#include "unix_request.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// The client passes its cwd and fds 0-2: anything beyond a few is not ours to keep.
constexpr int kMaxFds = 8;
constexpr size_t kFirstRead = 64 * 1024;

Napi::Value Fail(Napi::Env env, const char *what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

Napi::Value RecvRequest(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "Expected an fd for recvRequest").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();

  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return Fail(env, "getsockopt SO_PEERCRED", errno);

  Napi::Buffer<char> data = Napi::Buffer<char>::New(env, kFirstRead);
  struct iovec iov = {data.Data(), kFirstRead};
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n < 0) return Fail(env, "recvmsg", errno);

  Napi::Array fds = Napi::Array::New(env);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      fds.Set(fds.Length(), got);
    }
  }
  // More fds than fit were closed by the kernel (MSG_CTRUNC): the request is refused by the
  // caller, which closes the ones that came.
  Napi::Object out = Napi::Object::New(env);
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("fds", fds);
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & MSG_CTRUNC) != 0));
  out.Set("data", Napi::Buffer<char>::Copy(env, data.Data(), (size_t)n));
  return out;
}
