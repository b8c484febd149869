// Captured output of run(): a pipe read on the event loop into one buffer (capture.cc).
#pragma once
#include <napi.h>

Napi::Value CaptureOutput(const Napi::CallbackInfo &info);
