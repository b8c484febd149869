// Captured output: the parent's end of a stdout/stderr pipe read on the event loop into one buffer,
// handed to JS once, at EOF. run() captures both streams of every sandbox; a net.Socket per pipe
// (a stream, its handle, a Buffer and an event per chunk) cost ~0.1 ms of the caller's thread per
// run, this one callback.
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <string>

namespace {

struct Capture {
  explicit Capture(Napi::Env e) : env(e) {}
  Napi::Env env;
  uv_poll_t poll;
  int fd = -1;
  double limit = -1;  // bytes kept at most; -1: all
  double total = 0;   // bytes read, kept or not
  bool overflowed = false;
  std::string data;
  Napi::FunctionReference on_overflow;
  Napi::FunctionReference on_done;
};

void closed(uv_handle_t *h) { delete (Capture *)h->data; }

void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  Capture *c = (Capture *)handle->data;
  char buf[65536];
  bool eof = status < 0;
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
  if (overflow_now && !c->on_overflow.IsEmpty()) c->on_overflow.MakeCallback(env.Global(), {});
  if (!eof) return;
  uv_poll_stop(handle);
  close(c->fd);
  c->fd = -1;
  Napi::Buffer<char> out = Napi::Buffer<char>::Copy(env, c->data.data(), c->data.size());
  std::string().swap(c->data);
  Napi::FunctionReference done = std::move(c->on_done);
  uv_close((uv_handle_t *)handle, closed);
  done.MakeCallback(env.Global(), {out, Napi::Number::New(env, c->total)});
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
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  int flags = fcntl(fd, F_GETFL);
  Capture *c = new Capture(env);
  c->fd = fd;
  c->limit = info[1].As<Napi::Number>().DoubleValue();
  c->on_overflow = Napi::Persistent(info[2].As<Napi::Function>());
  c->on_done = Napi::Persistent(info[3].As<Napi::Function>());
  c->poll.data = c;
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || uv_poll_init(loop, &c->poll, fd) != 0) {
    int e = errno;
    delete c;
    Napi::Error::New(env, std::string("cannot watch an output pipe: ") + strerror(e)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_readable) != 0) {
    uv_close((uv_handle_t *)&c->poll, closed);
    Napi::Error::New(env, "cannot watch an output pipe on the event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}
