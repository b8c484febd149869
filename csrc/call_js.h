// Calling JS from the event loop (a uv callback: no JS frame below it).
#pragma once
#include <napi.h>

#include <initializer_list>

// fn(...args), as node-addon-api's MakeCallback would, but a call that fails does not abort the
// process: an exception the callback throws goes to 'uncaughtException' like any callback's, and a
// call refused because the environment is ending (a worker being terminated: its loop still turns
// while JS may no longer run) is dropped. node-addon-api, built without C++ exceptions, would turn
// either into napi_throw on a failed call, a fatal error. Returns whether fn ran (threw or not): a
// caller that hands over a resource (an fd) closes it itself when it did not.
inline bool call_js(Napi::Env env, const Napi::FunctionReference &fn, std::initializer_list<napi_value> args) {
  napi_value result;
  if (napi_make_callback(env, nullptr, env.Global(), fn.Value(), args.size(), args.begin(), &result) == napi_ok) return true;
  bool pending = false;
  napi_value error;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &error) == napi_ok) {
    napi_fatal_exception(env, error);
    return true;  // fn ran, and threw
  }
  return false;
}
