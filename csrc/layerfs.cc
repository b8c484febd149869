// The two file-system calls that extracting an image layer needs and Node's fs lacks: an overlayfs
// whiteout (a 0/0 character device) and an opaque directory (an xattr). Both are synchronous and
// return 0 or -errno; the caller (lib/image/extract.ts) turns that into its error.
#include <napi.h>

#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfs.h"

// makeWhiteout(path): mknod(path, S_IFCHR | 0000, makedev(0, 0)). An ordinary user may make this one
// device since Linux 5.8 (vfs_mknod's is_whiteout exception): it opens nothing, overlayfs reads it as
// "deleted in this layer" (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories").
// Through syscall(2): glibc's mknod symbol is from 2.33, and the addon needs no glibc newer than 2.28.
Napi::Value MakeWhiteout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "Expected (path) for makeWhiteout").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  long r = syscall(SYS_mknodat, AT_FDCWD, path.c_str(), static_cast<mode_t>(S_IFCHR), static_cast<dev_t>(makedev(0, 0)));
  return Napi::Number::New(env, r == 0 ? 0 : -errno);
}

// setXattr(path, name, value): lsetxattr, never following a symbolic link (the directory is one the
// extraction made; a link in its place is not followed).
Napi::Value SetXattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString()) {
    Napi::TypeError::New(env, "Expected (path, name, value) for setXattr").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  std::string value = info[2].As<Napi::String>().Utf8Value();
  int r = lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
  return Napi::Number::New(env, r == 0 ? 0 : -errno);
}

// getXattr(path, name) → the value as a string, or -errno (ENODATA when absent).
Napi::Value GetXattr(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "Expected (path, name) for getXattr").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return Napi::Number::New(env, -errno);
  return Napi::String::New(env, buf, static_cast<size_t>(n));
}
