// The parent's side of a run (see run.h, init/serve.cc). No fork here: the run is a message with
// fds to the sandbox's init, and its end is the EOF of its own report pipe.
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "call_js.h"
#include "exit_report.h"
#include "fd_watch.h"
#include "plan.h"
#include "run_message.h"
#include "wire.h"

namespace {

struct PendingRun {
  explicit PendingRun(Napi::Env e) : env(e) {}
  Napi::Env env;
  FdWatch *watch = nullptr;
  int fd = -1;  // the run's report pipe, read end (non-blocking)
  std::vector<wire::Report> records;
  Napi::FunctionReference on_end;
  Napi::FunctionReference on_start;
};

void on_run_readable(void *data) {
  PendingRun *run = (PendingRun *)data;
  bool started = false, ended = false;
  for (;;) {
    wire::Report r;
    ssize_t n = read(run->fd, &r, sizeof r);
    if (n == (ssize_t)sizeof r) {
      r.stage[sizeof r.stage - 1] = 0;
      r.detail[sizeof r.detail - 1] = 0;
      if (r.kind == wire::kReportStarted) started = true;
      run->records.push_back(r);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EOF: init has reaped everything of the run (init/serve.cc), or is gone.
    if (!(n < 0 && errno == EAGAIN)) ended = true;
    break;
  }
  Napi::Env env = run->env;
  Napi::HandleScope scope(env);
  if (started && !run->on_start.IsEmpty()) {
    for (const wire::Report &r : run->records) {
      if (r.kind != wire::kReportStarted) continue;
      Napi::FunctionReference cb = std::move(run->on_start);
      call_js(env, cb, {Napi::Number::New(env, (double)r.t_ns)});
      break;
    }
  }
  if (!ended) return;
  unwatch_fd(run->watch);
  close(run->fd);
  Napi::Value result = run_end_object(env, run->records);
  Napi::FunctionReference cb = std::move(run->on_end);
  delete run;
  call_js(env, cb, {result});
}

// The environment ended mid-run: its report pipe is closed (the sandbox itself is ended by the
// addon's cleanup).
void on_run_gone(void *data) {
  PendingRun *run = (PendingRun *)data;
  close(run->fd);
  delete run;
}

}  // namespace

Napi::Value RunIn(const Napi::CallbackInfo &info, int socket_fd) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsObject() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "Expected (pid: number, plan: object, onEnd: function) for runIn").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  LaunchSpec spec;
  std::string err = plan_from_js(info[1].As<Napi::Object>(), &spec, true);
  if (!err.empty()) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Everything the run is sent with; closed here once sent (init holds its copies).
  std::vector<int> owned;
  auto close_owned = [&]() {
    for (int fd : owned) close(fd);
  };
  int plan_fd = memfd_create("sandbox-plan", MFD_CLOEXEC);
  if (plan_fd < 0) return throw_failure(env, "plan", "create the plan memfd", errno);
  owned.push_back(plan_fd);
  if (write(plan_fd, spec.blob.data(), spec.blob.size()) != (ssize_t)spec.blob.size()) {
    int e = errno ? errno : EIO;
    close_owned();
    return throw_failure(env, "plan", "write the plan", e);
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) {
    int e = errno;
    close_owned();
    return throw_failure(env, "pipe", "create the run's report pipe", e);
  }
  owned.push_back(report[1]);
  int fds[wire::kMaxRunFds] = {plan_fd, report[1], spec.stdio[0], spec.stdio[1], spec.stdio[2]};
  int count = wire::kRunFixedFds;
  for (auto &procs : spec.cgroup_procs) {
    // Opened by the caller, who may write them; the command's process writes "0" (itself) to each.
    // One opened ahead (a cgroup made ahead on the addon's lane, lib/cgroup/reserve.ts) is sent as
    // it is: opening a cgroup file here waits on the kernel's cgroup-tree locks while other
    // cgroups are made and removed, and this is the event loop's thread.
    int fd = procs.fd;
    if (fd < 0) {
      fd = open(procs.path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        close_owned();
        close(report[0]);
        return throw_failure(env, "cgroup", "open " + procs.path, e);
      }
      owned.push_back(fd);
    }
    fds[count++] = fd;
  }
  RunMessage m(count);
  m.req = {wire::kMagic, (uint32_t)count};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m.mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
  ssize_t sent;
  do sent = sendmsg(socket_fd, &m.mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  int send_err = sent == (ssize_t)sizeof m.req ? 0 : (sent < 0 ? errno : EIO);
  close_owned();
  if (send_err) {
    close(report[0]);
    return throw_failure(env, "run", "send the run to its sandbox", send_err);
  }
  fcntl(report[0], F_SETFL, O_NONBLOCK);
  PendingRun *run = new PendingRun(env);
  run->fd = report[0];
  run->on_end = Napi::Persistent(info[2].As<Napi::Function>());
  if (info.Length() >= 4 && info[3].IsFunction()) run->on_start = Napi::Persistent(info[3].As<Napi::Function>());
  // The run was sent: if it cannot be watched, closing its pipe makes init's reports on it fail,
  // not the run; the caller ends the sandbox on this error. A run keeps Node running.
  run->watch = watch_fd(env, run->fd, on_run_readable, run, true, on_run_gone);
  if (run->watch == nullptr) {
    int e = errno;
    close(run->fd);
    delete run;
    return throw_failure(env, "run", "watch the run's report pipe on the event loop", e);
  }
  return env.Undefined();
}
