// NativeListener: accepts connections on a listening AF_UNIX socket and hands
// each accepted descriptor (non-blocking, close-on-exec) to JS, which wraps it
// in a channel. Accepting happens here rather than in net.Server because a
// descriptor watched by a libuv stream cannot also be watched by our poll.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "channel.h"
#include "errors.h"
#include "platform.h"
#include "watcher.h"

namespace handoff {
namespace {

constexpr int kMaxAcceptsPerEvent = 64;

class NativeListener;

class ListenerWatcher : public Watcher {
 public:
  ListenerWatcher(Napi::Env env, int fd, NativeListener* owner) : Watcher(env, fd), owner_(owner) {}

 protected:
  void OnPoll(int status, int events) override;

 private:
  NativeListener* owner_;
};

int AcceptOne(int fd) {
#if defined(__linux__)
  return accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  int c = accept(fd, nullptr, nullptr);
  if (c >= 0) {
    SetCloexec(c);
    SetNonBlocking(c);
  }
  return c;
#endif
}

class NativeListener : public Napi::ObjectWrap<NativeListener> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeListener",
                       {
                           InstanceMethod<&NativeListener::Close>("close"),
                           InstanceMethod<&NativeListener::Ref>("ref"),
                           InstanceMethod<&NativeListener::Unref>("unref"),
                           InstanceMethod<&NativeListener::Pause>("pause"),
                           InstanceMethod<&NativeListener::Resume>("resume"),
                       });
  }

  // new NativeListener(fd, { onConnection(fd), onError(err) })
  explicit NativeListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeListener>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "NativeListener(fd, callbacks)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object cbs = info[1].As<Napi::Object>();
    Napi::Value on_connection = cbs.Get("onConnection");
    Napi::Value on_error = cbs.Get("onError");
    if (!on_connection.IsFunction() || !on_error.IsFunction()) {
      Napi::TypeError::New(env, "callbacks.onConnection and callbacks.onError must be functions")
          .ThrowAsJavaScriptException();
      return;
    }
    on_connection_ = Napi::Persistent(on_connection.As<Napi::Function>());
    on_error_ = Napi::Persistent(on_error.As<Napi::Function>());
    async_context_ = std::make_unique<Napi::AsyncContext>(env, "HandoffListener", info.This().As<Napi::Object>());
    int fd = info[0].As<Napi::Number>().Int32Value();
    watcher_ = std::make_unique<ListenerWatcher>(env, fd, this);
    if (watcher_->init_error() != 0) {
      SystemError(env, -watcher_->init_error(), "uv_poll_init").ThrowAsJavaScriptException();
      return;
    }
    Napi::ObjectWrap<NativeListener>::Ref();
    int r = watcher_->Poll(UV_READABLE);
    if (r < 0) SystemError(env, -r, "uv_poll_start").ThrowAsJavaScriptException();
  }

  ~NativeListener() override {
    if (watcher_) watcher_->Close();
  }

  void OnPoll(int status, int events) {
    Napi::Env env = Env();
    // The environment is going away: accept nothing we could not hand over.
    if (!CanRunJs(env)) {
      watcher_->Poll(0);
      return;
    }
    Napi::HandleScope handle_scope(env);
    Napi::CallbackScope scope(env, *async_context_);
    if (status < 0) {
      ReportError(-status, "poll");
      return;
    }
    if (!(events & UV_READABLE)) return;
    for (int i = 0; i < kMaxAcceptsPerEvent && !watcher_->closed() && !paused_; i++) {
      int c = AcceptOne(watcher_->fd());
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        // EMFILE and friends: stop accepting (a level-triggered poll would
        // spin) and let JS resume when it has room. (errno first: stopping
        // the poll may make syscalls of its own.)
        int err = errno;
        paused_ = true;
        watcher_->Poll(0);
        ReportError(err, "accept");
        return;
      }
      SetNoSigpipe(c);
      bool ran = false;
      if (!CallJs(env, on_connection_, {Napi::Number::New(env, c)}, &ran)) {
        if (!ran) close(c);  // never reached JS: still ours
        if (!watcher_->closed()) watcher_->Poll(0);
        return;
      }
    }
  }

 private:
  void ReportError(int sys_errno, const char* syscall) {
    if (watcher_->closed() || watcher_->tearing_down()) return;
    Napi::Env env = Env();
    if (!CanRunJs(env)) return;
    CallJs(env, on_error_, {SystemError(env, sys_errno, syscall).Value()});
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (watcher_ && !watcher_->closed()) {
      watcher_->Close(info.Length() > 0 && info[0].IsFunction() ? static_cast<napi_value>(info[0]) : nullptr);
      Napi::ObjectWrap<NativeListener>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    watcher_->Ref();
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    watcher_->Unref();
    return info.Env().Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    paused_ = true;
    watcher_->Poll(0);
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    paused_ = false;
    watcher_->Poll(UV_READABLE);
    return info.Env().Undefined();
  }

  std::unique_ptr<ListenerWatcher> watcher_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_connection_, on_error_;
  bool paused_ = false;
};

void ListenerWatcher::OnPoll(int status, int events) { owner_->OnPoll(status, events); }

}  // namespace

Napi::Function InitListener(Napi::Env env) { return NativeListener::Init(env); }

}  // namespace handoff
