// fastify-handoff's native addon: only what JavaScript cannot do. See
// docs/ARCHITECTURE.md for the surface; plugin/native.ts types it.
#include <napi.h>

#include "channel.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeChannel", handoff::InitChannel(env));
  exports.Set("NativeListener", handoff::InitListener(env));
  handoff::InitSockets(env, exports);
  handoff::InitUnixPath(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(fastify_handoff, Init)
