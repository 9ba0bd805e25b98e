#pragma once
#include <napi.h>

namespace handoff {
Napi::Function InitChannel(Napi::Env env);
Napi::Function InitListener(Napi::Env env);
void InitSockets(Napi::Env env, Napi::Object exports);

// Calls a JS callback from a libuv callback: an exception becomes an
// 'uncaughtException' instead of staying pending inside the addon.
inline void CallJs(Napi::Env env, const Napi::FunctionReference& fn,
                   std::initializer_list<napi_value> args) {
  fn.Call(args);
  if (env.IsExceptionPending()) {
    Napi::Error err = env.GetAndClearPendingException();
    napi_fatal_exception(env, err.Value());
  }
}
}  // namespace handoff
