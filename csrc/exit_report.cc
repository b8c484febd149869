// The exit report handed to JS: see exit_report.h.
#include "exit_report.h"

#include <sys/wait.h>

Napi::Value exit_object(Napi::Env env, const siginfo_t &si, const struct rusage &ru, const std::vector<wire::Report> &records) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Value null = env.Null();
  o.Set("exitCode", null);
  o.Set("signal", null);
  o.Set("error", null);
  o.Set("startNs", 0.0);
  o.Set("endNs", 0.0);
  o.Set("initUserUs", 0.0);
  o.Set("initSysUs", 0.0);
  o.Set("treeUserUs", null);
  o.Set("treeSysUs", null);
  o.Set("treeMaxRssKb", null);
  o.Set("netnsEmpty", false);
  o.Set("tmpfsBytes", 0.0);
  bool exited = false;
  for (const wire::Report &r : records) {
    if (r.kind == wire::kReportError && o.Get("error").IsNull()) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("stage", r.stage);
      e.Set("errno", r.err);
      e.Set("detail", r.detail);
      o.Set("error", e);
    } else if (r.kind == wire::kReportStarted) {
      o.Set("startNs", (double)r.t_ns);
      o.Set("initUserUs", (double)r.user_us);
      o.Set("initSysUs", (double)r.sys_us);
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
  // The init's own fate: it is killed (wall-time limit, abort, the cgroup) or fails before
  // the command started.
  Napi::Object init = Napi::Object::New(env);
  init.Set("exitCode", si.si_code == CLD_EXITED ? Napi::Value(Napi::Number::New(env, si.si_status)) : null);
  init.Set("signal", si.si_code != CLD_EXITED ? Napi::Value(Napi::Number::New(env, si.si_status)) : null);
  o.Set("init", init);
  o.Set("commandExited", exited);
  o.Set("userUs", (double)ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec);
  o.Set("sysUs", (double)ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec);
  o.Set("maxRssKb", (double)ru.ru_maxrss);
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
