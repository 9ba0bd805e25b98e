#include "watcher.h"

#include <unistd.h>

namespace handoff {

// Owned by libuv once Close() starts; freed in OnCloseCallback. Kept apart from
// the Watcher because the JS object (and so the Watcher) may be finalized
// before libuv is done with the handle.
struct Watcher::Handle {
  uv_poll_t poll;
  int fd;
  Watcher* owner;
  napi_env env;
  napi_async_cleanup_hook_handle cleanup;
  napi_ref done;  // called once the fd is closed
  bool tearing_down;
};

Watcher::Watcher(Napi::Env env, int fd) : handle_(new Handle()), fd_(fd) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  handle_->fd = fd;
  handle_->owner = this;
  handle_->env = env;
  handle_->cleanup = nullptr;
  handle_->done = nullptr;
  handle_->tearing_down = false;
  init_error_ = uv_poll_init(loop, &handle_->poll, fd);
  if (init_error_ != 0) {
    // Not a handle libuv knows (the fd is already watched on this loop, or
    // not pollable): nothing to close through libuv, and the fd stays the
    // caller's. The watcher is born closed.
    delete handle_;
    handle_ = nullptr;
    return;
  }
  handle_->poll.data = handle_;
  napi_add_async_cleanup_hook(env, OnEnvCleanup, handle_, &handle_->cleanup);
}

Watcher::~Watcher() { Close(); }

int Watcher::Poll(int events) {
  if (handle_ == nullptr) return UV_EBADF;
  if (events == events_) return 0;
  events_ = events;
  if (events == 0) return uv_poll_stop(&handle_->poll);
  return uv_poll_start(&handle_->poll, events, OnPollCallback);
}

void Watcher::Ref() {
  if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void Watcher::Unref() {
  if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->poll));
}

void Watcher::Close(napi_value done) {
  Handle* h = handle_;
  if (h == nullptr) return;
  if (done != nullptr) napi_create_reference(h->env, done, 1, &h->done);
  handle_ = nullptr;
  events_ = 0;
  h->owner = nullptr;
  uv_poll_stop(&h->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnCloseCallback);
}

void Watcher::OnPollCallback(uv_poll_t* poll, int status, int events) {
  Handle* h = static_cast<Handle*>(poll->data);
  if (h->owner == nullptr) return;
  // On an error libuv has stopped the handle itself: forget the mask, or the
  // next Poll() with the same events would think it is still polling.
  if (status < 0) h->owner->events_ = 0;
  h->owner->OnPoll(status, events);
}

void Watcher::OnCloseCallback(uv_handle_t* handle) {
  Handle* h = static_cast<Handle*>(handle->data);
  close(h->fd);
  napi_env env = h->env;
  napi_ref done = h->done;
  bool call = done != nullptr && !h->tearing_down;
  if (h->cleanup != nullptr) napi_remove_async_cleanup_hook(h->cleanup);
  delete h;
  if (done == nullptr) return;
  if (call) {
    // Runs from libuv's close phase: open a scope and go through
    // napi_make_callback so promise jobs and nextTicks run afterwards.
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value fn, recv, result;
    napi_get_reference_value(env, done, &fn);
    napi_get_global(env, &recv);  // napi_make_callback wants an object
    if (napi_make_callback(env, nullptr, recv, fn, 0, nullptr, &result) == napi_pending_exception) {
      napi_value exception;
      napi_get_and_clear_last_exception(env, &exception);
      napi_fatal_exception(env, exception);
    }
    napi_close_handle_scope(env, scope);
  }
  napi_delete_reference(env, done);
}

void Watcher::OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  Handle* h = static_cast<Handle*>(arg);
  h->cleanup = hook;  // removed in OnCloseCallback, which Node waits for
  h->tearing_down = true;
  Watcher* owner = h->owner;
  if (owner != nullptr) {
    owner->tearing_down_ = true;
    owner->Close();
    owner->OnTeardown();
  }
}

}  // namespace handoff
