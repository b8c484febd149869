// cgroupfs I/O without Node's fs layer: a run with limits reads some ten cgroup files and writes
// five on the caller's thread, where readFileSync's option parsing, fstat and Buffer-to-string
// steps cost more than the kernel's own work (some 20 µs against 6-14 µs per file).
// The policy (which files, what an error means) stays in lib/cgroup/files.ts.
#include "cgroupfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "call_js.h"
#include "lane.h"

namespace {

// One write(2) of text: 0; -errno when the file cannot be opened, +errno when the kernel refuses
// the value. No O_CREAT (a file the kernel does not offer is ENOENT), O_TRUNC for tests on regular files.
int write_text(const std::string &path, const std::string &text) {
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n;
  do n = write(fd, text.data(), text.size());
  while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : (size_t)n == text.size() ? 0 : EIO;
  close(fd);
  return e;
}

// The whole file: 0, or -errno.
int read_text(const std::string &path, std::string *text) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (n == 0) break;
    text->append(buf, (size_t)n);
  }
  close(fd);
  return 0;
}

// latin1: cgroupfs files are ASCII, and no byte is ever replaced.
Napi::Value latin1(Napi::Env env, const std::string &text) {
  napi_value out;
  napi_create_string_latin1(env, text.data(), text.size(), &out);
  return Napi::Value(env, out);
}

}  // namespace

// readFile(path) → the file's text (latin1), or -errno.
Napi::Value ReadSmallFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "Expected (path) for readFile").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string text;
  int r = read_text(info[0].As<Napi::String>().Utf8Value(), &text);
  if (r < 0) return Napi::Number::New(env, r);
  return latin1(env, text);
}

// writeFile(path, text) → write_text's result (the caller's messages tell open from write apart).
Napi::Value WriteSmallFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "Expected (path, text) for writeFile").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, write_text(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value()));
}

// A cgroup's making or removal as a list of steps, each a (kind, path, text) triple of strings
// (sent as one string, steps_from_js):
//   "mkdir"  make the directory;               "rmdir"  remove it (ENOENT counts as removed);
//   "write"  one write(2) of text;             "write?" the same, skipped when the file is absent;
//   "write~" the same, any failure ignored;    "open"   O_RDONLY|O_DIRECTORY, the fd is the result;
//   "read"   the file's text is the result;     "open-w" O_WRONLY (a file init joins), the fd;
//   "close"  close(2) of the fd given as text (one an "open-w" gave).
// Results, one per step: 0 (or the fd, or the text), -errno when the step's first call failed
// (mkdir, open, rmdir, read, close), +errno when the kernel refused a written value. A failed
// mkdir, write or open ends the list and undoes it (fds closed, directories made removed, newest
// first); later steps get no result (null). Reads, closes and rmdirs never end the list: a run's
// last figures are read, then its cgroup removed, in one job.
// Used on the caller's thread (cgroupSteps) and as one job on the addon's own thread
// (cgroupStepsAsync, lane.h; libuv's thread pool when that cannot be had), which keeps a cgroup's
// mkdirs and writes (~0.3 ms of kernel work per run with limits on cgroup v1) off the event loop's
// thread. The policy (which files, what an error says) is lib/cgroup/steps.ts's.
namespace {

constexpr int32_t kNotRun = INT32_MIN;

// The directories each environment has made and not yet removed. The JS side removes a run's
// cgroup when it ends, and the cgroups made ahead at close() or the process's exit; a worker
// thread terminated mid-run runs no more JS, so its environment's teardown removes what is left
// here (remove_left_cgroups). Steps run on the lane's thread too: under a lock.
std::mutex g_made_lock;
std::map<napi_env, std::set<std::string>> g_made;

void note_made(napi_env env, const std::string &dir, bool made) {
  std::lock_guard<std::mutex> hold(g_made_lock);
  if (made) {
    g_made[env].insert(dir);
    return;
  }
  auto it = g_made.find(env);
  if (it == g_made.end()) return;
  it->second.erase(dir);
  if (it->second.empty()) g_made.erase(it);
}

struct Step {
  std::string kind, path, text;
};

struct Result {
  int32_t code = kNotRun;
  std::string text;  // a read's
};

std::vector<Result> run_steps(napi_env env, const std::vector<Step> &steps) {
  std::vector<Result> out(steps.size());
  for (size_t i = 0; i < steps.size(); i++) {
    const Step &s = steps[i];
    int32_t r;
    bool fails = false;
    if (s.kind == "read") {
      r = read_text(s.path, &out[i].text);
    } else if (s.kind == "mkdir") {
      r = mkdir(s.path.c_str(), 0755) < 0 ? -errno : 0;
      fails = r != 0;
      if (r == 0) note_made(env, s.path, true);
    } else if (s.kind == "rmdir") {
      r = rmdir(s.path.c_str()) < 0 && errno != ENOENT ? -errno : 0;
      if (r == 0) note_made(env, s.path, false);
    } else if (s.kind == "open" || s.kind == "open-w") {
      r = open(s.path.c_str(), s.kind == "open" ? O_RDONLY | O_DIRECTORY | O_CLOEXEC : O_WRONLY | O_CLOEXEC);
      if (r < 0) r = -errno;
      fails = r < 0;
    } else if (s.kind == "close") {
      r = close(atoi(s.text.c_str())) < 0 ? -errno : 0;
    } else {
      r = write_text(s.path, s.text);
      if (s.kind == "write~" || (s.kind == "write?" && r == -ENOENT)) r = 0;
      fails = r != 0;
    }
    out[i].code = r;
    if (!fails) continue;
    for (size_t j = i; j-- > 0;) {
      if (steps[j].kind == "open" || steps[j].kind == "open-w") close(out[j].code);
      else if (steps[j].kind == "mkdir" && rmdir(steps[j].path.c_str()) == 0) note_made(env, steps[j].path, false);
    }
    break;
  }
  return out;
}

// The steps as lib/cgroup/steps.ts sends them: one string of kind, path, text fields, each ended by
// a NUL (one N-API string in place of three per step).
bool steps_from_js(const Napi::Value &v, std::vector<Step> *steps) {
  if (!v.IsString()) return false;
  std::string all = v.As<Napi::String>().Utf8Value();
  size_t at = 0;
  auto field = [&](std::string *out) {
    size_t end = all.find('\0', at);
    if (end == std::string::npos) return false;
    out->assign(all, at, end - at);
    at = end + 1;
    return true;
  };
  while (at < all.size()) {
    Step s;
    if (!field(&s.kind) || !field(&s.path) || !field(&s.text)) return false;
    const std::string &kind = s.kind;
    if (kind != "mkdir" && kind != "rmdir" && kind != "open" && kind != "open-w" && kind != "close" && kind != "read" && kind != "write" &&
        kind != "write?" && kind != "write~") {
      return false;
    }
    if (kind == "close" && !(s.text.size() > 0 && s.text.find_first_not_of("0123456789") == std::string::npos)) return false;
    steps->push_back(std::move(s));
  }
  return true;
}

Napi::Value results_to_js(Napi::Env env, const std::vector<Step> &steps, const std::vector<Result> &results) {
  Napi::Array out = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); i++) {
    const Result &r = results[i];
    if (r.code == kNotRun) {
      out.Set((uint32_t)i, env.Null());
    } else if (steps[i].kind == "read" && r.code == 0) {
      out.Set((uint32_t)i, latin1(env, r.text));
    } else {
      out.Set((uint32_t)i, Napi::Number::New(env, r.code));
    }
  }
  return out;
}

// A list of steps as a job for the addon's lane (lane.h), which the event loop's thread hands jobs
// to without waiting on any other thread.
class StepsJob : public LaneJob {
 public:
  StepsJob(napi_env env, Napi::Function cb, std::vector<Step> steps) : env_(env), cb_(Napi::Persistent(cb)), steps_(std::move(steps)) {}
  void run() override { results_ = run_steps(env_, steps_); }
  void done(napi_env env) override {
    Napi::Env e(env);
    Napi::HandleScope scope(e);
    call_js(e, cb_, {results_to_js(e, steps_, results_)});
  }

 private:
  napi_env env_;
  Napi::FunctionReference cb_;
  std::vector<Step> steps_;
  std::vector<Result> results_;
};

}  // namespace

// cgroupSteps(steps) → results, on the caller's thread.
Napi::Value CgroupSteps(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<Step> steps;
  if (info.Length() < 1 || !steps_from_js(info[0], &steps)) {
    Napi::TypeError::New(env, "Expected (steps: string) of NUL-ended kind, path, text fields for cgroupSteps").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return results_to_js(env, steps, run_steps(env, steps));
}

// cgroupStepsAsync(steps, done): the same as one job on the addon's lane (lane.h); done(results).
Napi::Value CgroupStepsAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<Step> steps;
  if (info.Length() < 2 || !steps_from_js(info[0], &steps) || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "Expected (steps: string, done: function) for cgroupStepsAsync").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  lane_run(env, new StepsJob(env, info[1].As<Napi::Function>(), std::move(steps)));
  return env.Undefined();
}

namespace {

// CLOCK_MONOTONIC in µs: where the serials of this load of the addon start.
uint64_t monotonic_us() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

}  // namespace

// cgroupSerial() → a number unique in this process: the last part of a sandbox cgroup's name
// (lib/cgroup/stale.ts). Process-wide, unlike a JS counter: each worker thread has its own module
// state. Not from 0: Node unloads the addon when the last environment holding it ends (a worker
// terminated, the main thread never having loaded it), and a later load counting from 0 again would
// meet a cgroup of the earlier one. Each load starts at the monotonic clock in µs, past every serial
// an earlier load gave: it takes one per cgroup made, and making one takes more than a µs.
Napi::Value CgroupSerial(const Napi::CallbackInfo &info) {
  static std::atomic<uint64_t> next{monotonic_us()};
  return Napi::Number::New(info.Env(), (double)next.fetch_add(1));
}

namespace {

// SIGKILLs every task listed in `dir`'s cgroup.procs (v2) or tasks (v1): a directory this
// environment made, so whatever is in it is one of its sandboxes'.
void kill_tasks_in(const std::string &dir) {
  std::string text;
  if (read_text(dir + "/cgroup.procs", &text) < 0 && read_text(dir + "/tasks", &text) < 0) return;
  const char *p = text.c_str();
  while (*p) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    if (pid > 0) kill((pid_t)pid, SIGKILL);
    p = *end ? end + 1 : end;
  }
}

// The environment ends (its sandboxes were killed and reaped by the addon's own cleanup, which
// runs before this one): every cgroup it made and did not remove goes, deepest first. A task
// still exiting makes rmdir fail with EBUSY for a moment: killed again and retried, for up to
// about a second, then left to a later start's stale sweep (lib/cgroup/stale.ts).
void remove_left_cgroups(void *arg) {
  napi_env env = (napi_env)arg;
  std::vector<std::string> dirs;
  {
    std::lock_guard<std::mutex> hold(g_made_lock);
    auto it = g_made.find(env);
    if (it == g_made.end()) return;
    dirs.assign(it->second.begin(), it->second.end());
    g_made.erase(it);
  }
  std::sort(dirs.begin(), dirs.end(), [](const std::string &a, const std::string &b) { return a.size() > b.size(); });
  for (const std::string &dir : dirs) {
    for (int attempt = 0; rmdir(dir.c_str()) < 0 && errno == EBUSY && attempt < 10; attempt++) {
      kill_tasks_in(dir);
      struct timespec ts = {0, (long)(1000000L << attempt)};  // 1, 2, 4 ... 512 ms
      nanosleep(&ts, nullptr);
    }
  }
}

}  // namespace

void remove_cgroups_at_teardown(napi_env env) { napi_add_env_cleanup_hook(env, remove_left_cgroups, env); }
