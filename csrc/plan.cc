// NativePlan (lib/native-plan.ts) → LaunchSpec. The TypeScript side validated the options
// already; this is the second check at the boundary: types, NUL bytes, absurd sizes, relative
// paths and ".." in mount targets.
#include "plan.h"

#include <stdint.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>

#include "wire.h"

namespace {

struct Writer {
  std::string &out;
  void u32(uint32_t v) { out.append((const char *)&v, 4); }
  void u64(uint64_t v) { out.append((const char *)&v, 8); }
  void str(const std::string &s) {
    u32((uint32_t)s.size());
    out.append(s);
    out.push_back('\0');
  }
};

std::string got(const Napi::Value &v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsArray()) return "an array";
  return "an object";
}

std::string expected(const char *what, const std::string &field, const Napi::Value &v) {
  return std::string("Expected ") + what + " for " + field + " but received " + got(v);
}

// A string without NUL bytes.
bool get_string(const Napi::Object &o, const char *key, std::string *out, std::string *err, const std::string &prefix = "plan.") {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) {
    *err = expected("a string", prefix + key, v);
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    *err = std::string("Expected a string without NUL bytes for ") + prefix + key;
    return false;
  }
  if (out->size() > wire::kMaxBytes / 4) {
    *err = std::string("Expected a string of sane size for ") + prefix + key;
    return false;
  }
  return true;
}

bool get_u32(const Napi::Object &o, const char *key, uint32_t *out, std::string *err) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) {
    *err = expected("a number", std::string("plan.") + key, v);
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    *err = std::string("Expected an integer in [0, 2^32) for plan.") + key;
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

bool get_int(const Napi::Object &o, const char *key, int *out, std::string *err) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -2;
  if (!v.IsNumber() || d < -1 || d > 1 << 30 || d != (double)(int)d) {
    *err = expected("an fd number", std::string("plan.") + key, v);
    return false;
  }
  *out = (int)d;
  return true;
}

bool get_strings(const Napi::Object &o, const char *key, std::vector<std::string> *out, std::string *err) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) {
    *err = expected("an array of strings", std::string("plan.") + key, v);
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > wire::kMaxStrings) {
    *err = std::string("Expected at most 65536 entries in plan.") + key;
    return false;
  }
  size_t total = 0;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    std::string s;
    if (!e.IsString()) {
      *err = expected("a string", std::string("plan.") + key + "[" + std::to_string(i) + "]", e);
      return false;
    }
    s = e.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) {
      *err = std::string("Expected strings without NUL bytes in plan.") + key;
      return false;
    }
    // Checked as it grows: one long string repeated 65536 times is small in JS and a terabyte here.
    total += s.size() + 1;
    if (total > wire::kMaxBytes) {
      *err = std::string("Expected at most 64 MiB of strings in plan.") + key;
      return false;
    }
    out->push_back(std::move(s));
  }
  return true;
}

// Mount targets are absolute and never climb: init resolves them inside the new root anyway.
bool safe_target(const std::string &p) {
  if (p.empty() || p[0] != '/') return false;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part == "..") return false;
    i = j + 1;
  }
  return true;
}

}  // namespace

std::string plan_from_js(const Napi::Object &js, LaunchSpec *spec, bool for_run) {
  std::string err, cwd, hostname;
  std::vector<std::string> argv, env;
  uint32_t namespaces, uid, gid;
  if (!get_strings(js, "argv", &argv, &err) || !get_strings(js, "env", &env, &err) || !get_string(js, "cwd", &cwd, &err) ||
      !get_string(js, "hostname", &hostname, &err) || !get_u32(js, "namespaces", &namespaces, &err) || !get_u32(js, "uid", &uid, &err) ||
      !get_u32(js, "gid", &gid, &err) || !get_string(js, "uidMap", &spec->uid_map, &err) ||
      !get_string(js, "gidMap", &spec->gid_map, &err)) {
    return err;
  }
  if (argv.empty() || argv[0].empty()) return "Expected a non-empty argv for plan.argv";
  if (!safe_target(cwd)) return "Expected an absolute path without '..' for plan.cwd";
  if (hostname.size() > 64) return "Expected a hostname of at most 64 bytes for plan.hostname";
  if (namespaces & ~wire::kNsAllowed) return "Expected only net, ipc, uts and cgroup bits in plan.namespaces";
  Napi::Value pwm = js.Get("parentWritesMaps"), tty = js.Get("tty");
  if (!pwm.IsBoolean()) return expected("a boolean", "plan.parentWritesMaps", pwm);
  if (!tty.IsBoolean()) return expected("a boolean", "plan.tty", tty);
  spec->parent_writes_maps = pwm.As<Napi::Boolean>().Value();
  Napi::Value defer = js.Get("deferRelease");
  if (!defer.IsBoolean()) return expected("a boolean", "plan.deferRelease", defer);
  spec->defer_release = defer.As<Napi::Boolean>().Value();
  if (spec->defer_release && !spec->parent_writes_maps) return "Expected parentWritesMaps with plan.deferRelease";

  if (!get_int(js, "netnsFd", &spec->netns_fd, &err)) return err;
  if (spec->netns_fd >= 0 && (namespaces & wire::kNsNet)) return "Expected no net bit in plan.namespaces with plan.netnsFd";

  Writer w{spec->blob};
  w.u32(wire::kMagic);
  w.u32(wire::kVersion);
  w.u32(namespaces | (spec->netns_fd >= 0 ? wire::kNsNetLent : 0));
  w.u32(uid);
  w.u32(gid);
  w.u32(spec->parent_writes_maps);
  w.u32(tty.As<Napi::Boolean>().Value());
  w.str(spec->uid_map);
  w.str(spec->gid_map);
  w.str(hostname);
  w.str(cwd);
  w.u32((uint32_t)argv.size());
  for (auto &s : argv) w.str(s);
  w.u32((uint32_t)env.size());
  for (auto &s : env) w.str(s);

  Napi::Value mv = js.Get("mounts");
  if (!mv.IsArray()) return expected("an array", "plan.mounts", mv);
  Napi::Array mounts = mv.As<Napi::Array>();
  // A run has none: its filesystem was built with the sandbox.
  if ((mounts.Length() == 0 && !for_run) || mounts.Length() > wire::kMaxMounts) {
    return for_run ? "Expected at most 4096 entries in plan.mounts" : "Expected 1 to 4096 entries in plan.mounts";
  }
  w.u32(mounts.Length());
  for (uint32_t i = 0; i < mounts.Length(); i++) {
    Napi::Value e = mounts.Get(i);
    std::string field = "plan.mounts[" + std::to_string(i) + "]";
    if (!e.IsObject()) return expected("an object", field, e);
    Napi::Object m = e.As<Napi::Object>();
    uint32_t op, flags;
    std::string src, dst, data;
    if (!get_u32(m, "op", &op, &err) || !get_u32(m, "flags", &flags, &err) || !get_string(m, "src", &src, &err, field + ".") ||
        !get_string(m, "dst", &dst, &err, field + ".") || !get_string(m, "data", &data, &err, field + ".")) {
      return err;
    }
    if (op < 1 || op > wire::kMountOpLast) return "Expected a known mount op for " + field + ".op";
    if (!safe_target(dst)) return "Expected an absolute path without '..' for " + field + ".dst";
    bool needs_src = op == wire::kRootBind || op == wire::kRootOverlay || op == wire::kBind;
    if (needs_src && (src.empty() || src[0] != '/')) return "Expected an absolute path for " + field + ".src";
    if (op == wire::kRootOverlay && src.find(',') != std::string::npos) {
      return "Expected a rootfs path without ',' for an overlay root (" + field + ".src)";
    }
    w.u32(op);
    w.u32(flags);
    w.str(src);
    w.str(dst);
    w.str(data);
    if (spec->blob.size() > wire::kMaxBytes) return "Expected a plan smaller than 64 MiB";
  }

  Napi::Value rv = js.Get("rlimits");
  if (!rv.IsArray()) return expected("an array", "plan.rlimits", rv);
  Napi::Array rl = rv.As<Napi::Array>();
  if (rl.Length() > 64) return "Expected at most 64 entries in plan.rlimits";
  w.u32(rl.Length());
  for (uint32_t i = 0; i < rl.Length(); i++) {
    Napi::Value e = rl.Get(i);
    if (!e.IsObject()) return expected("an object", "plan.rlimits[" + std::to_string(i) + "]", e);
    Napi::Object r = e.As<Napi::Object>();
    uint32_t res;
    if (!get_u32(r, "resource", &res, &err)) return err;
    w.u32(res);
    for (const char *k : {"soft", "hard"}) {
      Napi::Value n = r.Get(k);
      if (!n.IsNumber()) return expected("a number", std::string("plan.rlimits[].") + k, n);
      double d = n.As<Napi::Number>().DoubleValue();
      if (d != -1 && !(d >= 0 && d <= 9007199254740991.0))
        return std::string("Expected -1 or a non-negative integer for plan.rlimits[].") + k;
      w.u64(d == -1 ? (uint64_t)RLIM64_INFINITY : (uint64_t)d);
    }
  }

  Napi::Value sv = js.Get("seccomp");
  if (sv.IsNull()) {
    w.u32(0);
  } else if (sv.IsBuffer()) {
    Napi::Buffer<uint8_t> b = sv.As<Napi::Buffer<uint8_t>>();
    if (b.Length() % 8 != 0 || b.Length() / 8 > 4096 || b.Length() == 0) {
      return "Expected 1 to 4096 BPF instructions (8 bytes each) for plan.seccomp";
    }
    w.u32((uint32_t)b.Length());
    spec->blob.append((const char *)b.Data(), b.Length());
  } else {
    return expected("a Buffer or null", "plan.seccomp", sv);
  }

  Napi::Value io = js.Get("stdio");
  if (!io.IsArray() || io.As<Napi::Array>().Length() != 3) return expected("an array of 3 fds", "plan.stdio", io);
  for (uint32_t i = 0; i < 3; i++) {
    Napi::Value f = io.As<Napi::Array>().Get(i);
    double d = f.IsNumber() ? f.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d < 1 << 30) || d != (double)(int)d) return expected("an fd number", "plan.stdio[" + std::to_string(i) + "]", f);
    spec->stdio[i] = (int)d;
  }
  if (!get_int(js, "cgroupFd", &spec->cgroup_fd, &err)) return err;
  Napi::Value procs = js.Get("cgroupProcs");
  if (!procs.IsArray()) return expected("an array", "plan.cgroupProcs", procs);
  Napi::Array pa = procs.As<Napi::Array>();
  if (pa.Length() > (uint32_t)wire::kMaxCgroupFds) return "Expected at most 8 entries in plan.cgroupProcs";
  for (uint32_t i = 0; i < pa.Length(); i++) {
    Napi::Value e = pa.Get(i);
    LaunchSpec::CgroupJoin join;
    if (e.IsNumber()) {
      double d = e.As<Napi::Number>().DoubleValue();
      if (!(d >= 0 && d < 1 << 30) || d != (double)(int)d)
        return expected("an fd number", "plan.cgroupProcs[" + std::to_string(i) + "]", e);
      join.fd = (int)d;
      join.path = "fd " + std::to_string(join.fd);
      // Only a cgroup file: init writes "0" to it, which must not land anywhere else.
      struct statfs fs;
      if (fstatfs(join.fd, &fs) < 0 || (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC)) {
        return "Expected an fd of a cgroup file for plan.cgroupProcs[" + std::to_string(i) + "]";
      }
    } else if (e.IsString()) {
      join.path = e.As<Napi::String>().Utf8Value();
      if (join.path.empty() || join.path[0] != '/' || join.path.find('\0') != std::string::npos) {
        return "Expected absolute paths in plan.cgroupProcs";
      }
    } else {
      return expected("a path or an fd number", "plan.cgroupProcs[" + std::to_string(i) + "]", e);
    }
    spec->cgroup_procs.push_back(std::move(join));
  }
  if (spec->blob.size() > wire::kMaxBytes) return "Expected a plan smaller than 64 MiB";
  return "";
}
