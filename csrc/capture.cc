// Captured output: the parent's end of a stdout/stderr pipe read on the event loop into one buffer,
// handed to JS once, at EOF. run() captures both streams of every sandbox; a net.Socket per pipe
// (a stream, its handle, a Buffer and an event per chunk) costs the caller's thread far more than
// this one callback.
#include "capture.h"

#include "call_js.h"
#include "fd_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace {

struct Capture {
  explicit Capture(Napi::Env e) : env(e) {}
  Napi::Env env;
  FdWatch *watch = nullptr;
  int fd = -1;
  double limit = -1;  // bytes kept at most; -1: all
  double total = 0;   // bytes read, kept or not
  bool overflowed = false;
  std::string data;
  Napi::FunctionReference on_overflow;
  Napi::FunctionReference on_done;
};

void on_readable(void *data) {
  Capture *c = (Capture *)data;
  char buf[65536];
  bool eof = false;
  bool overflow_now = false;
  while (!eof) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      eof = true;  // EOF, or an error that ends the stream the same way
      break;
    }
    double room = c->limit < 0 ? (double)n : c->limit - c->total;
    if (room > 0) c->data.append(buf, room < (double)n ? (size_t)room : (size_t)n);
    c->total += (double)n;
    if (c->limit >= 0 && c->total > c->limit && !c->overflowed) overflow_now = c->overflowed = true;
  }
  Napi::Env env = c->env;
  Napi::HandleScope scope(env);
  if (overflow_now && !c->on_overflow.IsEmpty()) call_js(env, c->on_overflow, {});
  if (!eof) return;
  unwatch_fd(c->watch);
  close(c->fd);
  Napi::Buffer<char> out = Napi::Buffer<char>::Copy(env, c->data.data(), c->data.size());
  Napi::FunctionReference done = std::move(c->on_done);
  double total = c->total;
  delete c;
  call_js(env, done, {out, Napi::Number::New(env, total)});
}

// The environment ended mid-capture: the pipe is closed, nothing is delivered.
void on_gone(void *data) {
  Capture *c = (Capture *)data;
  close(c->fd);
  delete c;
}

}  // namespace

// capture(fd, limit, onOverflow, onDone): reads fd until EOF; takes the fd (closes it at EOF).
// limit < 0 keeps everything; otherwise the first `limit` bytes, onOverflow() once when more came.
// onDone(buffer, totalBytes) at EOF.
Napi::Value CaptureOutput(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction() || !info[3].IsFunction()) {
    Napi::TypeError::New(env, "Expected (fd, limit, onOverflow, onDone) for capture").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Capture *c = new Capture(env);
  c->fd = fd;
  c->limit = info[1].As<Napi::Number>().DoubleValue();
  c->on_overflow = Napi::Persistent(info[2].As<Napi::Function>());
  c->on_done = Napi::Persistent(info[3].As<Napi::Function>());
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) flags = -1;
  if (flags < 0 || (c->watch = watch_fd(env, fd, on_readable, c, true, on_gone)) == nullptr) {
    int e = errno;
    delete c;
    Napi::Error::New(env, std::string("cannot watch an output pipe: ") + strerror(e)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}
