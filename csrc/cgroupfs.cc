// cgroupfs I/O without Node's fs layer: a run with limits reads some ten cgroup files and writes
// five on the caller's thread, where readFileSync's option parsing, fstat and Buffer-to-string
// steps cost more than the kernel's own work (≈ 20 µs against 6-14 µs per file, measured here).
// The policy (which files, what an error means) stays in lib/cgroup/files.ts.
#include "cgroupfs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

// readFile(path) → the file's text (latin1), or -errno.
Napi::Value ReadSmallFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "Expected (path) for readFile").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(env, -errno);
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return Napi::Number::New(env, -e);
    }
    if (n == 0) break;
    text.append(buf, (size_t)n);
  }
  close(fd);
  // latin1: cgroupfs files are ASCII, and no byte is ever replaced.
  napi_value out;
  napi_create_string_latin1(env, text.data(), text.size(), &out);
  return Napi::Value(env, out);
}

// writeFile(path, text) → 0; -errno when the file cannot be opened, +errno when the kernel refuses
// the value (the caller's messages tell the two apart). One write(2), no O_CREAT (a file the kernel does not
// offer is ENOENT), O_TRUNC for tests on regular files.
Napi::Value WriteSmallFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "Expected (path, text) for writeFile").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string text = info[1].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(env, -errno);
  ssize_t n;
  do n = write(fd, text.data(), text.size());
  while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : (size_t)n == text.size() ? 0 : EIO;
  close(fd);
  return Napi::Number::New(env, e);
}
