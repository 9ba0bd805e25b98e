// Watcher: one descriptor and the one uv_poll_t that watches it.
//
// libuv allows a single poll handle per fd, and the fd must outlive the handle:
// closing it under an active poll leaves epoll watching a number that may be
// reused. So Close() stops polling, lets uv_close finish, and only then closes
// the fd. The poll lives on the loop of the environment that created it
// (napi_get_uv_event_loop), never uv_default_loop(), so watchers work in
// worker_threads; an async cleanup hook closes whatever is still open when
// that environment goes away, so no handle outlives its loop.
#pragma once
#include <napi.h>
#include <uv.h>

namespace handoff {

class Watcher {
 public:
  Watcher(Napi::Env env, int fd);
  virtual ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Returns 0 or a libuv error. `events` is a mask of UV_READABLE/UV_WRITABLE;
  // 0 stops polling without closing.
  int Poll(int events);
  void Ref();
  void Unref();
  // Idempotent. The fd is closed once libuv has released the poll handle;
  // `done` (a JS function, optional) is called right after that.
  void Close(napi_value done = nullptr);
  bool closed() const { return handle_ == nullptr; }
  // The libuv error of uv_poll_init, or 0: on an error the watcher is closed
  // from the start and the fd was left alone.
  int init_error() const { return init_error_; }
  int fd() const { return fd_; }
  // True once the environment is being torn down: no more calls into JS.
  bool tearing_down() const { return tearing_down_; }

 protected:
  virtual void OnPoll(int status, int events) = 0;
  // Called after the watcher was closed by environment teardown.
  virtual void OnTeardown() {}

 private:
  struct Handle;
  static void OnPollCallback(uv_poll_t* poll, int status, int events);
  static void OnCloseCallback(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);

  Handle* handle_;
  int fd_;
  int events_ = 0;
  int init_error_ = 0;
  bool tearing_down_ = false;
};

}  // namespace handoff
