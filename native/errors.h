// System errors shaped like Node's own: an Error with `code` ("EAGAIN"),
// `errno` (libuv's negative number, as Node reports it) and `syscall`.
#pragma once
#include <napi.h>
#include <uv.h>
#include <string>

namespace handoff {

inline Napi::Error SystemError(Napi::Env env, int sys_errno, const char* syscall) {
  int uv_code = uv_translate_sys_error(sys_errno);
  const char* name = uv_err_name(uv_code);
  std::string message = std::string(syscall) + " " + name + " (" + uv_strerror(uv_code) + ")";
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, name));
  err.Set("errno", Napi::Number::New(env, uv_code));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

// Throws into JS and returns, for use inside a binding function.
#define HANDOFF_THROW_ERRNO(env, syscall)                      \
  do {                                                         \
    handoff::SystemError((env), errno, (syscall)).ThrowAsJavaScriptException(); \
    return (env).Undefined();                                  \
  } while (0)

}  // namespace handoff
