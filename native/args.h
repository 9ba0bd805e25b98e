// Argument checks for every function the addon exports. node-addon-api's
// As<Napi::Number>().Int32Value() does not check its value: undefined, a
// string or an object reads as 0, which is a real descriptor (stdin), so
// closeFd(undefined) would close it. Every argument is checked here first: a
// wrong type, a missing argument or one too many is a TypeError that says the
// call's signature and what was given; a descriptor must be a non-negative
// 32-bit integer.
//
// Each check throws (pending JS exception) and returns false; the caller
// returns at once.
#pragma once
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

namespace handoff {
namespace args {

// What a value is, for the message: "undefined", "a string", "the number 1.5".
inline std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsString()) return "a string";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return "the number " + s;
  }
  if (v.IsFunction()) return "a function";
  if (v.IsArray()) return "an array";
  if (v.IsBuffer()) return "a Buffer";
  if (v.IsObject()) return "an object";
  return "a symbol";
}

// Thrown with Node's own codes, so that a caller can tell a bad argument
// from a system error ({ code, errno, syscall }) without reading messages.
inline void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  e.ThrowAsJavaScriptException();
}

inline void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::RangeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  e.ThrowAsJavaScriptException();
}

inline bool Fail(const Napi::CallbackInfo& info, const char* usage, const std::string& what) {
  ThrowTypeError(info.Env(), std::string(usage) + ": " + what);
  return false;
}

// min <= info.Length() <= max.
inline bool Count(const Napi::CallbackInfo& info, size_t min, size_t max, const char* usage) {
  size_t n = info.Length();
  if (n >= min && n <= max) return true;
  std::string expected = min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max);
  return Fail(info, usage, "expected " + expected + " argument" + (max == 1 ? "" : "s") + ", got " + std::to_string(n));
}

inline bool IsInt32(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && d == std::trunc(d) && d >= -2147483648.0 && d <= 2147483647.0;
}

// An integer in int32 range, at least `min`.
inline bool Int(const Napi::CallbackInfo& info, size_t i, const char* name, int min, const char* usage, int* out) {
  Napi::Value v = info[i];
  if (!IsInt32(v) || v.As<Napi::Number>().Int32Value() < min)
    return Fail(info, usage, std::string(name) + " must be an integer >= " + std::to_string(min) + ", got " + Describe(v));
  *out = v.As<Napi::Number>().Int32Value();
  return true;
}

// A descriptor: a non-negative 32-bit integer.
inline bool Fd(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, int* out) {
  Napi::Value v = info[i];
  if (!IsInt32(v) || v.As<Napi::Number>().Int32Value() < 0)
    return Fail(info, usage, std::string(name) + " must be a descriptor (an integer >= 0), got " + Describe(v));
  *out = v.As<Napi::Number>().Int32Value();
  return true;
}

inline bool String(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) return Fail(info, usage, std::string(name) + " must be a string, got " + Describe(v));
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

inline bool Bool(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, bool* out) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) return Fail(info, usage, std::string(name) + " must be a boolean, got " + Describe(v));
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

inline bool Object(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage) {
  Napi::Value v = info[i];
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    return Fail(info, usage, std::string(name) + " must be an object, got " + Describe(v));
  return true;
}

// Absent or undefined, or a function: the function, or nullptr.
inline bool OptionalFunction(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, napi_value* out) {
  *out = nullptr;
  if (info.Length() <= i || info[i].IsUndefined()) return true;
  if (!info[i].IsFunction()) return Fail(info, usage, std::string(name) + " must be a function, got " + Describe(info[i]));
  *out = info[i];
  return true;
}

// Absent or undefined (leaves *out as it is), or a boolean.
inline bool OptionalBool(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, bool* out) {
  if (info.Length() <= i || info[i].IsUndefined()) return true;
  return Bool(info, i, name, usage, out);
}

// An array of descriptors (each a non-negative 32-bit integer).
inline bool FdArray(const Napi::CallbackInfo& info, size_t i, const char* name, const char* usage, std::vector<int>* out) {
  Napi::Value v = info[i];
  if (!v.IsArray()) return Fail(info, usage, std::string(name) + " must be an array of descriptors, got " + Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t length = arr.Length();
  for (uint32_t k = 0; k < length; k++) {
    Napi::Value fd = arr.Get(k);
    if (!IsInt32(fd) || fd.As<Napi::Number>().Int32Value() < 0)
      return Fail(info, usage, std::string(name) + "[" + std::to_string(k) + "] must be a descriptor (an integer >= 0), got " +
                                   Describe(fd));
    out->push_back(fd.As<Napi::Number>().Int32Value());
  }
  return true;
}

}  // namespace args
}  // namespace handoff
