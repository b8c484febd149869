// The end reports handed to JS: see exit_report.h.
#include "exit_report.h"

#include <sys/wait.h>

namespace {

// The first error record, as { stage, errno, detail }, or null.
Napi::Value first_error(Napi::Env env, const std::vector<wire::Report> &records) {
  for (const wire::Report &r : records) {
    if (r.kind != wire::kReportError) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("stage", r.stage);
    e.Set("errno", r.err);
    e.Set("detail", r.detail);
    return e;
  }
  return env.Null();
}

}  // namespace

Napi::Value run_end_object(Napi::Env env, const std::vector<wire::Report> &records) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Value null = env.Null();
  o.Set("exitCode", null);
  o.Set("signal", null);
  o.Set("error", first_error(env, records));
  o.Set("startNs", 0.0);
  o.Set("endNs", 0.0);
  o.Set("treeUserUs", null);
  o.Set("treeSysUs", null);
  o.Set("treeMaxRssKb", null);
  o.Set("netnsEmpty", false);
  o.Set("tmpfsBytes", 0.0);
  bool exited = false;
  for (const wire::Report &r : records) {
    if (r.kind == wire::kReportStarted) {
      o.Set("startNs", (double)r.t_ns);
    } else if (r.kind == wire::kReportExited) {
      int st = (int)r.value;
      exited = true;
      if (WIFEXITED(st)) o.Set("exitCode", WEXITSTATUS(st));
      else if (WIFSIGNALED(st)) o.Set("signal", WTERMSIG(st));
      o.Set("endNs", (double)r.t_ns);
      o.Set("treeUserUs", (double)r.user_us);
      o.Set("treeSysUs", (double)r.sys_us);
      o.Set("treeMaxRssKb", (double)r.maxrss_kb);
      o.Set("netnsEmpty", r.netns_empty == 1);
      o.Set("tmpfsBytes", (double)r.tmpfs_kb * 1024);
    }
  }
  o.Set("commandExited", exited);
  return o;
}

Napi::Value sandbox_end_object(Napi::Env env, const siginfo_t &si, const std::vector<wire::Report> &records) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Value null = env.Null();
  o.Set("exitCode", si.si_code == CLD_EXITED ? Napi::Value(Napi::Number::New(env, si.si_status)) : null);
  o.Set("signal", si.si_code != CLD_EXITED ? Napi::Value(Napi::Number::New(env, si.si_status)) : null);
  o.Set("error", first_error(env, records));
  return o;
}

Napi::Value throw_failure(Napi::Env env, const std::string &stage, const std::string &detail, int err) {
  Napi::Error e = Napi::Error::New(env, detail);
  e.Set("stage", stage);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("detail", detail);
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}
