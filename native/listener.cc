// NativeListener: accepts connections on a listening AF_UNIX socket and hands
// each accepted descriptor (non-blocking, close-on-exec) to JS, which wraps it
// in a channel. Accepting happens here rather than in net.Server because a
// descriptor watched by a libuv stream cannot also be watched by our poll.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "args.h"
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
  void OnTeardown() override;

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
                           InstanceAccessor<&NativeListener::Fd>("fd"),
                       });
  }

  // new NativeListener(fd, { onConnection(fd), onError(err) }, file?)
  // `file` ({ dirFd, name, dev, ino }, from listenUnixAt) is the socket file
  // this listener created: the listener owns dirFd from then on (closed by
  // close(), or when the environment goes away), so that removing the file
  // happens relative to the directory opened at listen, whatever the path
  // says by then.
  explicit NativeListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeListener>(info) {
    Napi::Env env = info.Env();
    const char* usage = "new NativeListener(fd: descriptor, callbacks: { onConnection, onError }, file?)";
    int fd = -1;
    if (!args::Count(info, 2, 3, usage) || !args::Fd(info, 0, "fd", usage, &fd) ||
        !args::Object(info, 1, "callbacks", usage))
      return;
    int dir_fd = -1;
    std::string name;
    uint64_t dev = 0, ino = 0;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      Napi::Object file = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object();
      bool ok = info[2].IsObject() && file.Get("dirFd").IsNumber() && file.Get("name").IsString() &&
                file.Get("dev").IsBigInt() && file.Get("ino").IsBigInt();
      if (ok) {
        bool lossless;
        dir_fd = file.Get("dirFd").As<Napi::Number>().Int32Value();
        name = file.Get("name").As<Napi::String>().Utf8Value();
        dev = file.Get("dev").As<Napi::BigInt>().Uint64Value(&lossless);
        ino = file.Get("ino").As<Napi::BigInt>().Uint64Value(&lossless);
      }
      if (!ok || dir_fd < 0 || name.empty()) {
        args::ThrowTypeError(env, "file must be { dirFd: number, name: string, dev: bigint, ino: bigint }");
        return;
      }
    }
    Napi::Object cbs = info[1].As<Napi::Object>();
    Napi::Value on_connection = cbs.Get("onConnection");
    Napi::Value on_error = cbs.Get("onError");
    if (!on_connection.IsFunction() || !on_error.IsFunction()) {
      args::ThrowTypeError(env, "callbacks.onConnection and callbacks.onError must be functions");
      return;
    }
    on_connection_ = Napi::Persistent(on_connection.As<Napi::Function>());
    on_error_ = Napi::Persistent(on_error.As<Napi::Function>());
    async_context_ = std::make_unique<Napi::AsyncContext>(env, "HandoffListener", info.This().As<Napi::Object>());
    watcher_ = std::make_unique<ListenerWatcher>(env, fd, this);
    if (watcher_->init_error() != 0) {
      SystemError(env, -watcher_->init_error(), "uv_poll_init").ThrowAsJavaScriptException();
      return;
    }
    Napi::ObjectWrap<NativeListener>::Ref();
    int r = watcher_->Poll(UV_READABLE);
    if (r < 0) {
      SystemError(env, -r, "uv_poll_start").ThrowAsJavaScriptException();
      return;
    }
    dir_fd_ = dir_fd;
    name_ = name;
    dev_ = dev;
    ino_ = ino;
  }

  ~NativeListener() override {
    if (watcher_) watcher_->Close();
    ForgetFile();
  }

  // The environment is going away without close(): like a process that
  // exits, the file stays (a stale socket the next listener replaces).
  void ForgetFile() {
    if (dir_fd_ >= 0) close(dir_fd_);
    dir_fd_ = -1;
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

  // close(done?, keepFile?): true if the socket file was ours and is removed,
  // false if its name held something else (left alone) or nothing, null
  // without a file. keepFile: the listening socket lives on in another
  // process (a successor took it over), so its name must stay: forget the
  // file without removing it (null).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* usage = "close(done?: function, keepFile?: boolean)";
    napi_value done;
    bool keep_file = false;
    if (!args::Count(info, 0, 2, usage) || !args::OptionalFunction(info, 0, "done", usage, &done) ||
        !args::OptionalBool(info, 1, "keepFile", usage, &keep_file))
      return env.Undefined();
    Napi::Value removed = env.Null();
    if (keep_file) {
      ForgetFile();
    } else if (dir_fd_ >= 0) {
      removed = Napi::Boolean::New(env, UnlinkIfSame(dir_fd_, name_.c_str(), dev_, ino_) == 1);
      ForgetFile();
    }
    if (watcher_ && !watcher_->closed()) {
      watcher_->Close(done);
      Napi::ObjectWrap<NativeListener>::Unref();
    }
    return removed;
  }

  // The listening descriptor, to pass to a successor (-1 once closed).
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    int fd = watcher_ && !watcher_->closed() ? watcher_->fd() : -1;
    return Napi::Number::New(info.Env(), fd);
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "ref()")) return info.Env().Undefined();
    watcher_->Ref();
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "unref()")) return info.Env().Undefined();
    watcher_->Unref();
    return info.Env().Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "pause()")) return info.Env().Undefined();
    paused_ = true;
    watcher_->Poll(0);
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "resume()")) return info.Env().Undefined();
    paused_ = false;
    watcher_->Poll(UV_READABLE);
    return info.Env().Undefined();
  }

  std::unique_ptr<ListenerWatcher> watcher_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_connection_, on_error_;
  bool paused_ = false;
  int dir_fd_ = -1;  // the socket file's directory, opened once at listen
  std::string name_;
  uint64_t dev_ = 0, ino_ = 0;
};

void ListenerWatcher::OnPoll(int status, int events) { owner_->OnPoll(status, events); }
void ListenerWatcher::OnTeardown() { owner_->ForgetFile(); }

}  // namespace

Napi::Function InitListener(Napi::Env env) { return NativeListener::Init(env); }

}  // namespace handoff
