#pragma once
#include <napi.h>

namespace handoff {
Napi::Function InitChannel(Napi::Env env);
Napi::Function InitListener(Napi::Env env);
void InitSockets(Napi::Env env, Napi::Object exports);
void InitUnixPath(Napi::Env env, Napi::Object exports);
// 1: `name` in `dir_fd` was that inode and is removed; 0: it is something
// else or nothing (left alone); -1: errno.
int UnlinkIfSame(int dir_fd, const char* name, uint64_t dev, uint64_t ino);

// Can this environment still run JavaScript? Not once it is being torn down
// (a worker that called process.exit(), was terminated or ran out of work):
// Node then runs the loop again to close its own handles, so our polls may
// still fire, but N-API refuses every call into JS (napi_pending_exception
// with nothing pending), and node-addon-api turns a refused throw into a fatal
// error. napi_strict_equals goes through the same gate as a call.
inline bool CanRunJs(napi_env env) {
  napi_value undefined;
  bool equal = false;
  if (napi_get_undefined(env, &undefined) != napi_ok) return false;
  return napi_strict_equals(env, undefined, undefined, &equal) == napi_ok;
}

// Calls a JS callback from a libuv callback: an exception becomes an
// 'uncaughtException' instead of staying pending inside the addon. Returns
// false when JS cannot (or can no longer) be called: the caller must stop
// touching JS. `*ran` (optional) says whether the callback was entered at all;
// when it was not, anything meant for it (descriptors) is still the caller's.
inline bool CallJs(Napi::Env env, const Napi::FunctionReference& fn,
                   std::initializer_list<napi_value> args, bool* ran = nullptr) {
  if (ran != nullptr) *ran = false;
  if (!CanRunJs(env)) return false;
  if (ran != nullptr) *ran = true;
  napi_value recv, result;
  napi_get_undefined(env, &recv);
  napi_status status = napi_call_function(env, recv, fn.Value(), args.size(), args.begin(), &result);
  if (status == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    if (CanRunJs(env)) napi_fatal_exception(env, err);
  }
  return CanRunJs(env);
}
}  // namespace handoff
