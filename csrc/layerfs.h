// Whiteouts and xattrs for image layers (csrc/layerfs.cc).
#pragma once
#include <napi.h>

Napi::Value MakeWhiteout(const Napi::CallbackInfo &info);
Napi::Value SetXattr(const Napi::CallbackInfo &info);
Napi::Value GetXattr(const Napi::CallbackInfo &info);
