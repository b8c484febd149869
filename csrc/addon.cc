// The N-API binding: the only place that throws. JS values become a LaunchSpec (plan.cc)
// before anything forks. A sandbox is one Child: its init, watched with a pidfd on the event loop
// (no thread-pool slot per running sandbox), and its report socket, which takes its runs
// (run.cc); each run ends by its own report pipe's EOF. Both are reported on the main thread.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "call_js.h"
#include "capture.h"
#include "cgroupfs.h"
#include "exit_report.h"
#include "fd_watch.h"
#include "layerfs.h"
#include "netns.h"
#include "overlay_probe.h"
#include "plan.h"
#include "run.h"
#include "spawn.h"
#include "unix_request.h"
#include "wire.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace {

struct Child {
  explicit Child(Napi::Env e) : env(e) {}
  Napi::Env env;
  FdWatch *pid_watch = nullptr;
  pid_t pid = -1;
  int pidfd = -1;
  int report_fd = -1;
  Napi::FunctionReference on_exit;
  int sync_fd = -1;  // -1 once released
  // init's reports on its socket, read as they come: "ready" is passed on at once, a setup error
  // is kept for the end. Idle (ready), its watches do not keep the event loop alive.
  FdWatch *report_watch = nullptr;
  std::vector<wire::Report> records;
  Napi::FunctionReference on_ready;
  // "ready"s said and runs sent: idle when it said more (the first comes when it is built).
  long readies = 0;
  long runs = 0;
  // Being ended (finish(), SIGKILL): it keeps Node running until its end is reported.
  bool ending = false;
};

struct Registry {
  napi_env env;
  std::map<pid_t, Child *> children;
};

Registry *registry(Napi::Env env) { return env.GetInstanceData<Registry>(); }

// Whether the child's watches keep Node running.
void keep_alive(Child *c, bool on) {
  keep_alive(c->pid_watch, on);
  if (c->report_watch != nullptr) keep_alive(c->report_watch, on);
}

// Closes the child's fds and frees it (its watches, if any, are gone or stopped first).
void free_child(Child *c) {
  if (c->sync_fd >= 0) close(c->sync_fd);
  close(c->pidfd);
  close(c->report_fd);
  delete c;
}

void close_child(Child *c) {
  unwatch_fd(c->pid_watch);
  if (c->report_watch != nullptr) unwatch_fd(c->report_watch);
  free_child(c);
}

// Reads every complete record waiting on the report socket. Returns false at EOF or an error.
// "ready" records are counted in *ready, not kept.
bool drain_reports(Child *c, int *ready) {
  wire::Report r;
  for (;;) {
    ssize_t n = read(c->report_fd, &r, sizeof r);
    if (n == (ssize_t)sizeof r) {
      r.stage[sizeof r.stage - 1] = 0;
      r.detail[sizeof r.detail - 1] = 0;
      if (r.kind == wire::kReportReady) {
        ++*ready;
        continue;
      }
      c->records.push_back(r);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

void on_report_readable(void *data) {
  Child *c = (Child *)data;
  int ready = 0;
  if (!drain_reports(c, &ready)) {
    // EOF: init is gone or going; the pidfd watcher finishes the job.
    unwatch_fd(c->report_watch);
    c->report_watch = nullptr;
  }
  if (ready > 0) {
    // Idle: it does not keep Node running. While it is being built, has a run, or is being reset
    // after one, it does (a caller may be waiting for it).
    c->readies += ready;
    if (c->readies > c->runs && !c->ending) keep_alive(c, false);
    Napi::Env env = c->env;
    Napi::HandleScope scope(env);
    call_js(env, c->on_ready, {Napi::Number::New(env, ready)});
  }
}

void on_pidfd_readable(void *data) {
  Child *c = (Child *)data;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  long r = syscall(SYS_waitid, P_PIDFD, c->pidfd, &si, WEXITED | WNOHANG, nullptr);
  if (r < 0 && errno == EINTR) return;
  if (r == 0 && si.si_pid == 0) return;  // spurious wake-up: not exited yet
  Napi::Env env = c->env;
  Napi::HandleScope scope(env);
  registry(env)->children.erase(c->pid);
  int ready = 0;
  drain_reports(c, &ready);
  Napi::Value result = sandbox_end_object(env, si, c->records);
  Napi::FunctionReference cb = std::move(c->on_exit);
  close_child(c);
  call_js(env, cb, {result});
}

// SIGKILL and reap. Should the pidfd be non-blocking, waitid would answer EAGAIN until the child
// has died, leaving a zombie: wait for it to be readable first.
void kill_and_reap(int pidfd) {
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  struct pollfd p = {pidfd, POLLIN, 0};
  while (poll(&p, 1, 5000) < 0 && errno == EINTR) {
  }
  siginfo_t si;
  syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED | WNOHANG, nullptr);
}

Napi::Value throw_type(Napi::Env env, const std::string &msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// launch(plan, onExit, onReady) → { pid }: a sandbox whose init serves runs (runIn). onReady(n)
// when it has said "ready" n more times (built, then reset after each run), onExit(end) once at
// its end; both on the main thread.
Napi::Value Launch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction()) {
    return throw_type(env, "Expected (plan: object, onExit: function, onReady: function) for launch");
  }
  LaunchSpec spec;
  std::string err = plan_from_js(info[0].As<Napi::Object>(), &spec);
  if (!err.empty()) {
    // A getter or Proxy trap on the plan threw: let that exception through. Throwing a second
    // one over it would be a fatal error (napi_throw fails with an exception pending).
    if (env.IsExceptionPending()) return env.Undefined();
    return throw_type(env, err);
  }
  Launched out;
  LaunchFailure fail;
  if (launch_sandbox(spec, &out, &fail) < 0) {
    return throw_failure(env, fail.stage, fail.detail, fail.err);
  }
  Child *c = new Child(env);
  c->pid = out.pid;
  c->pidfd = out.pidfd;
  c->report_fd = out.report_fd;
  c->sync_fd = out.sync_fd;
  c->on_exit = Napi::Persistent(info[1].As<Napi::Function>());
  c->on_ready = Napi::Persistent(info[2].As<Napi::Function>());
  c->pid_watch = watch_fd(env, out.pidfd, on_pidfd_readable, c, true);
  if (c->pid_watch == nullptr) {
    // Cannot watch it: do not leave it running.
    int e = errno;
    kill_and_reap(c->pidfd);
    free_child(c);
    return throw_failure(env, "launch", "watch the sandbox's pidfd on the event loop", e);
  }
  c->report_watch = watch_fd(env, out.report_fd, on_report_readable, c, true);
  if (c->report_watch == nullptr) {
    int e = errno;
    unwatch_fd(c->pid_watch);
    kill_and_reap(c->pidfd);
    free_child(c);
    return throw_failure(env, "launch", "watch the sandbox's report socket on the event loop", e);
  }
  registry(env)->children[out.pid] = c;
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", out.pid);
  return o;
}

// signal(pid, signo) → true when sent. Goes through the pidfd, so a recycled pid is never hit.
Napi::Value Signal(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return throw_type(env, "Expected (pid, signal) numbers for signal");
  auto &children = registry(env)->children;
  auto it = children.find(info[0].As<Napi::Number>().Int32Value());
  if (it == children.end()) return Napi::Boolean::New(env, false);
  int sig = info[1].As<Napi::Number>().Int32Value();
  // A sandbox being ended keeps Node running until its end is reported (an idle one is unref'd,
  // and its exit must not arrive while Node tears down).
  if (sig == SIGKILL) {
    it->second->ending = true;
    keep_alive(it->second->pid_watch, true);
  }
  return Napi::Boolean::New(env, syscall(SYS_pidfd_send_signal, it->second->pidfd, sig, nullptr, 0) == 0);
}

// runIn(pid, plan, onEnd[, onStart]): a run on the sandbox `pid` (run.cc). init takes runs one
// at a time, in the order sent: the JS side sends one when the last has ended.
Napi::Value RunInSandbox(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return throw_type(env, "Expected (pid: number, plan, onEnd) for runIn");
  auto &children = registry(env)->children;
  auto it = children.find(info[0].As<Napi::Number>().Int32Value());
  if (it == children.end()) return throw_type(env, "Expected the pid of a running sandbox for runIn");
  Child *c = it->second;
  Napi::Value r = RunIn(info, c->report_fd);
  // Busy until it says "ready" again.
  if (!env.IsExceptionPending()) {
    c->runs++;
    keep_alive(c, true);
  }
  return r;
}

// release(pid, go) → lets a deferred init go on (go = true) or makes it exit (go = false).
Napi::Value Release(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean())
    return throw_type(env, "Expected (pid: number, go: boolean) for release");
  auto &children = registry(env)->children;
  auto it = children.find(info[0].As<Napi::Number>().Int32Value());
  if (it == children.end() || it->second->sync_fd < 0) return Napi::Boolean::New(env, false);
  Child *c = it->second;
  bool ok = !info[1].As<Napi::Boolean>().Value() || write(c->sync_fd, "g", 1) == 1;
  close(c->sync_fd);  // EOF without the byte: init exits
  c->sync_fd = -1;
  return Napi::Boolean::New(env, ok);
}

// pipe() → [readFd, writeFd], both CLOEXEC: a run's stdio (Node makes no pipe of two plain fds).
Napi::Value Pipe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return throw_failure(env, "pipe", "create a pipe", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, p[0]);
  a.Set(1u, p[1]);
  return a;
}

// finish(pid) → true when said: the sandbox takes no more runs. Its init ends once the runs
// already sent have (init/serve.cc): a shutdown of the socket's sending side, which init reads as
// the end of its runs.
Napi::Value Finish(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return throw_type(env, "Expected (pid: number) for finish");
  auto &children = registry(env)->children;
  auto it = children.find(info[0].As<Napi::Number>().Int32Value());
  if (it == children.end()) return Napi::Boolean::New(env, false);
  // Ending keeps Node running until the end is reported, as a kill does.
  it->second->ending = true;
  keep_alive(it->second->pid_watch, true);
  return Napi::Boolean::New(env, shutdown(it->second->report_fd, SHUT_WR) == 0);
}

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// A pty pair as openpty(3) makes it, both ends CLOEXEC. Not libutil's openpty: glibc 2.34 moved it
// into libc under a new symbol version, which would make the prebuilt addon need glibc 2.34 where
// Node 20 itself needs 2.28. 0, or -1 with errno.
int open_pty(int *master, int *slave, const struct winsize *ws) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -1;
  int s = -1;
  if (unlockpt(m) == 0) {
    // The peer through the master itself (Linux 4.13), no path lookup in /dev/pts.
    s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[64];
    if (s < 0 && (errno == EINVAL || errno == ENOTTY) && ptsname_r(m, name, sizeof name) == 0) {
      s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
  }
  if (s < 0 || ioctl(m, TIOCSWINSZ, ws) < 0) {
    int e = errno;
    close(m);
    if (s >= 0) close(s);
    errno = e;
    return -1;
  }
  *master = m;
  *slave = s;
  return 0;
}

// openPty(cols, rows) → [master, slave], both CLOEXEC; the sandbox gets the slave as its terminal.
Napi::Value OpenPty(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct winsize ws = {24, 80, 0, 0};
  if (info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber()) {
    ws.ws_col = (unsigned short)info[0].As<Napi::Number>().Uint32Value();
    ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  }
  int master, slave;
  if (open_pty(&master, &slave, &ws) < 0) return throw_failure(env, "pty", "open a pseudo-terminal", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, master);
  a.Set(1u, slave);
  return a;
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  if (info.Length() >= 1 && info[0].IsNumber()) close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// monotonicNs() → CLOCK_MONOTONIC in ns, the clock init's timestamps use.
Napi::Value MonotonicNs(const Napi::CallbackInfo &info) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Napi::Number::New(info.Env(), (double)ts.tv_sec * 1e9 + ts.tv_nsec);
}

// netnsCreate(cb): makes a network namespace with loopback up on the thread pool (about a
// millisecond, under a kernel-wide lock) and calls cb(fd), or cb(-errno). The job may complete
// while its environment is ending (a worker being terminated): then cb cannot run, and the
// namespace's fd is closed here instead of leaking.
class NetnsCreateJob : public Napi::AsyncWorker {
 public:
  explicit NetnsCreateJob(Napi::Function cb) : Napi::AsyncWorker(cb) {}
  ~NetnsCreateJob() override {
    if (result_ >= 0) close(result_);
  }
  void Execute() override { result_ = netns_create(); }
  void OnOK() override {
    if (call_js(Env(), Callback(), {Napi::Number::New(Env(), result_)})) result_ = -EAGAIN;
  }

 private:
  int result_ = -EAGAIN;
};

Napi::Value NetnsCreate(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsFunction()) return throw_type(info.Env(), "Expected (callback: function) for netnsCreate");
  (new NetnsCreateJob(info[0].As<Napi::Function>()))->Queue();
  return info.Env().Undefined();
}

// probeOverlay(lowers) → 0 when an unprivileged overlay of `lowers` (top first, ':'-separated)
// mounts here, else its errno. Synchronous: a clone, three small writes and a mount (~1 ms); the
// library asks once per process.
Napi::Value ProbeOverlay(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsString()) return throw_type(info.Env(), "Expected (lowers: string) for probeOverlay");
  std::string lowers = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), probe_overlay(lowers.c_str()));
}

// When Node shuts down (or a worker ends), nothing it started keeps running and no watcher calls
// into JS any more. The watches themselves go with their set (fd_watch.cc), whose own hook, added
// after this one, has run by now: they are not touched here.
void cleanup(void *arg) {
  Registry *reg = (Registry *)arg;
  for (auto &kv : reg->children) {
    kill_and_reap(kv.second->pidfd);
    free_child(kv.second);
  }
  reg->children.clear();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Registry *reg = new Registry();
  reg->env = env;
  env.SetInstanceData<Registry>(reg);
  // Cleanup hooks run newest first: the sandboxes are ended before their cgroups are removed.
  remove_cgroups_at_teardown(env);
  napi_add_env_cleanup_hook(env, cleanup, reg);
  // Once per thread that loads the addon, like the init memfd: not an fd per launch.
  netns_remember_home();
  exports.Set("launch", Napi::Function::New(env, Launch));
  exports.Set("signal", Napi::Function::New(env, Signal));
  exports.Set("finish", Napi::Function::New(env, Finish));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("runIn", Napi::Function::New(env, RunInSandbox));
  exports.Set("openPty", Napi::Function::New(env, OpenPty));
  exports.Set("recvRequest", Napi::Function::New(env, RecvRequest));
  exports.Set("close", Napi::Function::New(env, CloseFd));
  exports.Set("monotonicNs", Napi::Function::New(env, MonotonicNs));
  exports.Set("probeOverlay", Napi::Function::New(env, ProbeOverlay));
  exports.Set("netnsCreate", Napi::Function::New(env, NetnsCreate));
  exports.Set("capture", Napi::Function::New(env, CaptureOutput));
  exports.Set("readFile", Napi::Function::New(env, ReadSmallFile));
  exports.Set("writeFile", Napi::Function::New(env, WriteSmallFile));
  exports.Set("cgroupSteps", Napi::Function::New(env, CgroupSteps));
  exports.Set("cgroupStepsAsync", Napi::Function::New(env, CgroupStepsAsync));
  exports.Set("cgroupSerial", Napi::Function::New(env, CgroupSerial));
  exports.Set("makeWhiteout", Napi::Function::New(env, MakeWhiteout));
  exports.Set("setXattr", Napi::Function::New(env, SetXattr));
  exports.Set("getXattr", Napi::Function::New(env, GetXattr));
  return exports;
}

}  // namespace

NODE_API_MODULE(sandbox, Init)
