// NativeChannel: a connected AF_UNIX stream socket that carries bytes and
// descriptors, driven by the libuv loop of the calling environment.
//
// Why SOCK_STREAM and not SOCK_SEQPACKET: macOS has no SOCK_SEQPACKET for
// AF_UNIX, and one socket type everywhere keeps one code path. Boundaries are
// the protocol's job (see PROTOCOL.md); the only boundary this file keeps is
// the one the kernel keeps for us: a message that carries descriptors goes out
// in a sendmsg of its own, so its descriptors ride on its first byte.
//
// It never blocks: every call uses MSG_DONTWAIT on a non-blocking socket,
// writes that do not fit wait in a queue for UV_WRITABLE, and reads happen when
// the poll says the socket is readable.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <vector>

#include "args.h"
#include "channel.h"
#include "errors.h"
#include "platform.h"
#include "watcher.h"

namespace handoff {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
// Bounded work per poll event, so one busy peer cannot starve the loop.
constexpr int kMaxReadsPerEvent = 32;
constexpr int kMaxIovecs = 64;
constexpr size_t kControlSize = CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage);
// Linux reads with recvmmsg; elsewhere (and when built with
// -DHANDOFF_RECVMSG_LOOP, to test that path on Linux) a recvmsg loop.
#if defined(__linux__) && !defined(HANDOFF_RECVMSG_LOOP)
#define kRecvmmsg 1
#else
#define kRecvmmsg 0
#endif

struct OutMessage {
  std::vector<char> data;
  std::vector<int> fds;  // borrowed: the caller keeps them open until written
  size_t offset = 0;
};

class NativeChannel;

class ChannelWatcher : public Watcher {
 public:
  ChannelWatcher(Napi::Env env, int fd, NativeChannel* owner) : Watcher(env, fd), owner_(owner) {}

 protected:
  void OnPoll(int status, int events) override;
  void OnTeardown() override;

 private:
  NativeChannel* owner_;
};

class NativeChannel : public Napi::ObjectWrap<NativeChannel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeChannel",
                       {
                           InstanceMethod<&NativeChannel::Send>("send"),
                           InstanceMethod<&NativeChannel::Close>("close"),
                           InstanceMethod<&NativeChannel::Ref>("ref"),
                           InstanceMethod<&NativeChannel::Unref>("unref"),
                           InstanceMethod<&NativeChannel::Pause>("pause"),
                           InstanceMethod<&NativeChannel::Resume>("resume"),
                           InstanceMethod<&NativeChannel::Hold>("hold"),
                           InstanceAccessor<&NativeChannel::Pending>("pending"),
                           InstanceAccessor<&NativeChannel::Fd>("fd"),
                       });
  }

  // new NativeChannel(fd, { onRead, onWritten, onError, onEnd })
  explicit NativeChannel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeChannel>(info) {
    Napi::Env env = info.Env();
    const char* usage = "new NativeChannel(fd: descriptor, callbacks: { onRead, onWritten, onError, onEnd })";
    int fd = -1;
    if (!args::Count(info, 2, 2, usage) || !args::Fd(info, 0, "fd", usage, &fd) ||
        !args::Object(info, 1, "callbacks", usage))
      return;
    Napi::Object cbs = info[1].As<Napi::Object>();
    const char* names[] = {"onRead", "onWritten", "onError", "onEnd"};
    Napi::FunctionReference* refs[] = {&on_read_, &on_written_, &on_error_, &on_end_};
    for (int i = 0; i < 4; i++) {
      Napi::Value v = cbs.Get(names[i]);
      if (!v.IsFunction()) {
        args::ThrowTypeError(env, std::string("callbacks.") + names[i] + " must be a function");
        return;
      }
      *refs[i] = Napi::Persistent(v.As<Napi::Function>());
    }
    if (SetNonBlocking(fd) != 0) {
      SystemError(env, errno, "fcntl").ThrowAsJavaScriptException();
      return;
    }
    SetNoSigpipe(fd);
    async_context_ = std::make_unique<Napi::AsyncContext>(env, "HandoffChannel", info.This().As<Napi::Object>());
    read_buffer_.resize(kReadBufferSize);
    control_.resize(kControlSize * (kRecvmmsg ? kMaxReadsPerEvent : 1));
    watcher_ = std::make_unique<ChannelWatcher>(env, fd, this);
    if (watcher_->init_error() != 0) {
      SystemError(env, -watcher_->init_error(), "uv_poll_init").ThrowAsJavaScriptException();
      return;
    }
    // An open channel keeps its JS object alive, like a net.Socket's handle.
    Napi::ObjectWrap<NativeChannel>::Ref();
    UpdatePoll();
  }

  ~NativeChannel() override {
    if (watcher_) watcher_->Close();
  }

  void OnPoll(int status, int events) {
    Napi::Env env = Env();
    // The environment is going away (its cleanup hook has not closed us yet):
    // nothing may reach JS, so do not read what could not be delivered.
    if (!CanRunJs(env)) {
      StopPolling();
      return;
    }
    Napi::HandleScope handle_scope(env);
    Napi::CallbackScope scope(env, *async_context_);
    if (status < 0) {
      // libuv reports POLLERR (e.g. the peer reset the channel) as UV_EBADF
      // and stops the handle. What the peer wrote before that is still in our
      // receive queue, and a sender must read every verdict before it may
      // decide that the channel's end gave a connection back (PROTOCOL.md §7):
      // read it first, then report the socket's own error.
      if (!ReadSome()) return;
      if (IsClosed() || !reading_ || ended_) return;
      if (deferred_error_ != 0) {
        // The error is taken (ReadSome reports it after the data); libuv
        // stopped the handle on POLLERR: poll again for the rest of the data.
        UpdatePoll();
        return;
      }
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      getsockopt(watcher_->fd(), SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) ReportError(so_error, "recvmsg");
      else ReportError(-status, "poll");
      return;
    }
    if (events & UV_WRITABLE) {
      if (!FlushAndReport(env)) return;
      if (IsClosed()) return;
    }
    if (events & (UV_READABLE | UV_DISCONNECT)) ReadSome();
  }

  // The environment is going away: nothing more reaches JS (ReportError
  // checks tearing_down()); the ObjectWrap reference dies with the env.
  // Descriptors the JS Channel still held for frames not yet complete would
  // otherwise outlive it: close them.
  void OnTeardown() {
    for (int fd : held_) close(fd);
    held_.clear();
  }

 private:
  bool IsClosed() const { return !watcher_ || watcher_->closed(); }

  void StopPolling() {
    if (!IsClosed()) watcher_->Poll(0);
  }

  void DropSelfReference() {
    if (!self_released_) {
      self_released_ = true;
      Napi::ObjectWrap<NativeChannel>::Unref();
    }
  }

  // Writes what the queue holds and tells JS how many messages completed.
  // Returns false once JS can no longer be called.
  bool FlushAndReport(Napi::Env env) {
    int err = 0;
    size_t done = Flush(&err);
    if (done > 0 && !CallJs(env, on_written_, {Napi::Number::New(env, static_cast<double>(done))})) {
      StopPolling();
      return false;
    }
    if (err != 0) ReportWriteError(err);
    return true;
  }

  // A fatal write error: the queue is dropped and JS is told (its send
  // callbacks fail), but polling for reads goes on, so whatever the peer wrote
  // before it went is still delivered, then the end of the stream.
  void ReportWriteError(int sys_errno) {
    if (IsClosed() || watcher_->tearing_down()) return;
    write_failed_ = true;
    queue_.clear();
    UpdatePoll();
    Napi::Env env = Env();
    if (!CanRunJs(env)) return;
    Napi::Error err = SystemError(env, sys_errno, "sendmsg");
    err.Set("writeOnly", Napi::Boolean::New(env, true));
    CallJs(env, on_error_, {err.Value()});
  }

  void UpdatePoll() {
    if (IsClosed()) return;
    int events = 0;
    if (reading_ && !ended_) events |= UV_READABLE | UV_DISCONNECT;
    if (!queue_.empty()) events |= UV_WRITABLE;
    int r = watcher_->Poll(events);
    if (r < 0) ReportError(-r, "uv_poll_start");
  }

  void ReportError(int sys_errno, const char* syscall) {
    if (IsClosed() || watcher_->tearing_down()) return;
    Napi::Env env = Env();
    // The socket is unusable after any of these: stop polling so a level-
    // triggered poll does not spin, and let JS decide when to close.
    reading_ = false;
    queue_.clear();
    watcher_->Poll(0);
    if (!CanRunJs(env)) return;
    Napi::Error err = SystemError(env, sys_errno, syscall);
    CallJs(env, on_error_, {err.Value()});
  }

  // One sendmsg, descriptors (if any) attached to its first byte. Returns the
  // bytes written, or -1 with *again set for back-pressure or *err set to the
  // errno of a fatal error.
  ssize_t WriteMsg(struct iovec* iov, int iovcnt, const std::vector<int>* fds, bool* again, int* err) {
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = iovcnt;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    if (fds != nullptr && !fds->empty()) {
      size_t payload = fds->size() * sizeof(int);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(payload);
      memset(control, 0, msg.msg_controllen);
      struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(payload);
      memcpy(CMSG_DATA(cmsg), fds->data(), payload);
    }
    for (;;) {
      ssize_t n = sendmsg(watcher_->fd(), &msg, kSendFlags);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        *again = true;
        return -1;
      }
#if defined(__APPLE__)
      // macOS reports a full peer buffer as EMSGSIZE when descriptors are
      // attached (libuv PR #1739): it is back-pressure, not an error.
      if (errno == EMSGSIZE && msg.msg_controllen > 0) {
        *again = true;
        return -1;
      }
#endif
      *err = errno;
      return -1;
    }
  }

  // Writes as much of the queue as the kernel takes. Returns how many queued
  // messages were completed; sets *err to an errno on a fatal error.
  size_t Flush(int* err) {
    size_t completed = 0;
    while (!queue_.empty() && !IsClosed()) {
      struct iovec iov[kMaxIovecs];
      int iovcnt = 0;
      OutMessage& first = queue_.front();
      bool with_fds = first.offset == 0 && !first.fds.empty();
      iov[iovcnt].iov_base = first.data.data() + first.offset;
      iov[iovcnt].iov_len = first.data.size() - first.offset;
      iovcnt++;
      // Messages without descriptors may share a sendmsg; a message with
      // descriptors always starts a sendmsg of its own and ends it.
      if (!with_fds) {
        for (size_t i = 1; i < queue_.size() && iovcnt < kMaxIovecs; i++) {
          OutMessage& m = queue_[i];
          if (!m.fds.empty()) break;
          iov[iovcnt].iov_base = m.data.data();
          iov[iovcnt].iov_len = m.data.size();
          iovcnt++;
        }
      }
      bool again = false;
      ssize_t n = WriteMsg(iov, iovcnt, with_fds ? &first.fds : nullptr, &again, err);
      if (n < 0) break;
      size_t left = static_cast<size_t>(n);
      while (left > 0 && !queue_.empty()) {
        OutMessage& m = queue_.front();
        size_t remaining = m.data.size() - m.offset;
        if (left >= remaining) {
          left -= remaining;
          queue_.pop_front();
          completed++;
        } else {
          m.offset += left;  // its descriptors are gone with the first part
          left = 0;
        }
      }
    }
    UpdatePoll();
    return completed;
  }

  // Takes one read's result: its descriptors (closed if the kernel truncated
  // them), and its bytes, moved to the end of what this poll event read so
  // far. Returns false if it was the end of the stream (nothing taken).
  bool TakeRead(struct msghdr* msg, size_t n, const char* data, size_t* filled) {
    size_t first_fd = received_.size();
    if (msg->msg_controllen > 0) {
      for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        // Never past the control data the kernel filled in (a truncated
        // header may claim more than it holds).
        const char* end = static_cast<const char*>(msg->msg_control) + msg->msg_controllen;
        size_t room = static_cast<size_t>(end - reinterpret_cast<const char*>(CMSG_DATA(c))) / sizeof(int);
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (count > room) count = room;
        const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
        for (size_t i = 0; i < count; i++) {
          int fd;
          memcpy(&fd, p + i, sizeof(int));
          if (kNeedCloexecAfterRecv) SetCloexec(fd);
          received_.push_back(fd);
        }
      }
    }
    // MSG_CTRUNC: the kernel dropped (and closed) descriptors that did not
    // fit, typically because this process is at its fd limit. The message
    // is incomplete: close what did arrive and say so.
    bool truncated = (msg->msg_flags & MSG_CTRUNC) != 0;
    if (truncated) {
      for (size_t i = first_fd; i < received_.size(); i++) close(received_[i]);
      received_.resize(first_fd);
    }
    size_t fd_count = received_.size() - first_fd;
    if (n == 0 && fd_count == 0 && !truncated) return false;
    reads_.push_back(static_cast<int32_t>(n));
    reads_.push_back(truncated ? -1 : static_cast<int32_t>(fd_count));
    for (size_t i = first_fd; i < received_.size(); i++) reads_.push_back(received_[i]);
    if (data != read_buffer_.data() + *filled) memmove(read_buffer_.data() + *filled, data, n);
    *filled += n;
    return true;
  }

  // Reads what the kernel holds (at most kMaxReadsPerEvent reads and the read
  // buffer: bounded work per poll event), then hands everything to JS in one
  // call: one buffer with the bytes of every read and, per read, its byte
  // count, its descriptor count (-1: truncated) and its descriptors. The
  // kernel ends a read at the buffer that carried descriptors, so each read's
  // descriptors stay tied to its byte range. Returns false once JS can no
  // longer be called.
  bool ReadSome() {
    Napi::Env env = Env();
    size_t filled = 0;
    reads_.clear();
    received_.clear();
    bool end = false;
    int error = 0;
    if (IsClosed() || !reading_ || ended_) return true;
#if kRecvmmsg
    // One recvmmsg for all the reads: each entry is a recvmsg of its own
    // (ending where the kernel ends one), into its own slice of the buffer,
    // and the call returns at the first read that would block, without the
    // extra syscall that only says EAGAIN.
    const size_t slice = read_buffer_.size() / kMaxReadsPerEvent;
    struct mmsghdr msgs[kMaxReadsPerEvent];
    struct iovec iovs[kMaxReadsPerEvent];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < kMaxReadsPerEvent; i++) {
      iovs[i].iov_base = read_buffer_.data() + i * slice;
      iovs[i].iov_len = slice;
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control_.data() + i * kControlSize;
      msgs[i].msg_hdr.msg_controllen = kControlSize;
    }
    int count;
    do { count = recvmmsg(watcher_->fd(), msgs, kMaxReadsPerEvent, kRecvFlags, nullptr); } while (count < 0 && errno == EINTR);
    if (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      // Unlike recvmsg, recvmmsg reports a pending socket error (ECONNRESET
      // when the peer closed with our bytes unread) BEFORE the data still
      // queued, and clears it. A peer that wrote its verdicts or ERROR and
      // then went would lose them (a sender would then doubt connections the
      // receiver had accepted). Read on: the data first, the error after,
      // in recvmsg's order.
      if (deferred_error_ == 0) deferred_error_ = errno;
      do { count = recvmmsg(watcher_->fd(), msgs, kMaxReadsPerEvent, kRecvFlags, nullptr); } while (count < 0 && errno == EINTR);
      if (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
    }
    for (int i = 0; i < count; i++) {
      if (!TakeRead(&msgs[i].msg_hdr, msgs[i].msg_len, read_buffer_.data() + i * slice, &filled)) {
        // The end of the stream; the kernel filled every entry after it with
        // the same nothing.
        end = true;
        break;
      }
    }
#else
    for (int round = 0; round < kMaxReadsPerEvent && filled < read_buffer_.size(); round++) {
      struct iovec iov = {read_buffer_.data() + filled, read_buffer_.size() - filled};
      struct msghdr msg;
      memset(&msg, 0, sizeof(msg));
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control_.data();
      msg.msg_controllen = kControlSize;
      ssize_t n = recvmsg(watcher_->fd(), &msg, kRecvFlags);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
        break;
      }
      size_t room = iov.iov_len;
      size_t before = received_.size();
      if (!TakeRead(&msg, static_cast<size_t>(n), read_buffer_.data() + filled, &filled)) {
        end = true;
        break;
      }
      // A read shorter than the room it had, without descriptors, took all
      // the kernel held: skip the recvmsg that would only say EAGAIN (the
      // poll is level-triggered; anything newer wakes it again). A read with
      // descriptors may have stopped at the next message's descriptors.
      if (received_.size() == before && (msg.msg_flags & MSG_CTRUNC) == 0 && static_cast<size_t>(n) < room) break;
    }
#endif
    if (!reads_.empty()) {
      // Until onRead is entered the descriptors are ours: if JS cannot take
      // them (the environment is going away), close them here.
      napi_value args[2];
      bool ran = false;
      if (!MakeReadArgs(env, filled, args) || !CallJs(env, on_read_, {args[0], args[1]}, &ran)) {
        if (!ran) {
          for (int fd : received_) close(fd);
        }
        received_.clear();
        StopPolling();
        return false;
      }
      received_.clear();
      // Closed, or paused, by JS while it handled these reads: whatever ended
      // them (the end of the stream; an error, or the end it leaves behind)
      // is left in the kernel, which says it again on the next read after
      // resume(). Reported now, it would overtake the whole frames a paused
      // channel still holds.
      if (IsClosed() || !reading_) return true;
    }
    // Once the data is read, the error recvmmsg reported ahead of it is the
    // way this stream ended (recvmsg would have said it here).
    if ((end || error != 0) && deferred_error_ != 0) {
      ReportError(deferred_error_, "recvmmsg");
    } else if (end) {
      ended_ = true;
      UpdatePoll();
      if (!CallJs(env, on_end_, {})) {
        StopPolling();
        return false;
      }
    } else if (error != 0) {
      ReportError(error, kRecvmmsg ? "recvmmsg" : "recvmsg");
    }
    return true;
  }

  // The arguments of onRead, with plain N-API calls that report failure
  // (node-addon-api's would turn a refusal during teardown into a fatal error).
  bool MakeReadArgs(napi_env env, size_t n, napi_value* out) {
    void* copy = nullptr;
    if (napi_create_buffer_copy(env, n, read_buffer_.data(), &copy, &out[0]) != napi_ok) return false;
    if (napi_create_array_with_length(env, reads_.size(), &out[1]) != napi_ok) return false;
    for (size_t i = 0; i < reads_.size(); i++) {
      napi_value v;
      if (napi_create_int32(env, reads_[i], &v) != napi_ok) return false;
      if (napi_set_element(env, out[1], static_cast<uint32_t>(i), v) != napi_ok) return false;
    }
    return true;
  }

  // send(buffer, fds): queue one message and try to write now. Returns how
  // many queued messages this call completed (not reported through onWritten).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (IsClosed()) {
      SystemError(env, EBADF, "sendmsg").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (write_failed_) {
      Napi::Error e = SystemError(env, EPIPE, "sendmsg");
      e.Set("completed", Napi::Number::New(env, 0));
      e.Set("writeOnly", Napi::Boolean::New(env, true));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const char* usage = "send(data: Buffer, fds?: descriptor[])";
    if (!args::Count(info, 1, 2, usage)) return env.Undefined();
    if (!info[0].IsBuffer()) {
      args::Fail(info, usage, "data must be a Buffer, got " + args::Describe(info[0]));
      return env.Undefined();
    }
    Napi::Buffer<char> buf = info[0].As<Napi::Buffer<char>>();
    if (buf.Length() == 0) {
      args::ThrowRangeError(env, "a message must not be empty");
      return env.Undefined();
    }
    OutMessage m;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (info[1].IsArray() && info[1].As<Napi::Array>().Length() > static_cast<uint32_t>(kMaxFdsPerMessage)) {
        args::ThrowRangeError(env, "at most 253 descriptors per message");
        return env.Undefined();
      }
      if (!args::FdArray(info, 1, "fds", usage, &m.fds)) return env.Undefined();
    }
    int err = 0;
    size_t done = 0;
    if (queue_.empty()) {
      // Nothing queued: write straight from the caller's buffer and copy only
      // what the kernel did not take (the common case copies nothing).
      struct iovec iov = {buf.Data(), buf.Length()};
      bool again = false;
      ssize_t n = WriteMsg(&iov, 1, &m.fds, &again, &err);
      if (n == static_cast<ssize_t>(buf.Length())) return Napi::Number::New(env, 1);
      // A dead descriptor: the kernel refused this message alone; the
      // channel is fine and nothing of it was written.
      if (err == EBADF && !m.fds.empty()) return ThrowDeadDescriptor(env, EBADF);
      if (again && !CheckDescriptors(env, m.fds)) return env.Undefined();
      if (n > 0) {
        m.fds.clear();  // they went with the first part
        m.data.assign(buf.Data() + n, buf.Data() + buf.Length());
      } else {
        m.data.assign(buf.Data(), buf.Data() + buf.Length());  // back-pressure: all of it waits
      }
      (void)again;
      if (err == 0) {
        queue_.push_back(std::move(m));
        UpdatePoll();
      }
    } else {
      if (!CheckDescriptors(env, m.fds)) return env.Undefined();
      m.data.assign(buf.Data(), buf.Data() + buf.Length());
      queue_.push_back(std::move(m));
      done = Flush(&err);
    }
    if (err != 0) {
      Napi::Error e = SystemError(env, err, "sendmsg");
      e.Set("completed", Napi::Number::New(env, static_cast<double>(done)));
      e.Set("writeOnly", Napi::Boolean::New(env, true));
      // As in ReportWriteError: no more writes, but reading goes on.
      write_failed_ = true;
      queue_.clear();
      UpdatePoll();
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(done));
  }

  Napi::Value ThrowDeadDescriptor(Napi::Env env, int sys_errno) {
    SystemError(env, sys_errno, "sendmsg").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // A message about to wait in the queue: refuse a dead descriptor now, while
  // the caller can still hear it; inside the queue it would poison the whole
  // channel. (A message written at once needs no check: the kernel refuses
  // it alone, with EBADF.)
  bool CheckDescriptors(Napi::Env env, const std::vector<int>& fds) {
    for (int fd : fds) {
      if (fcntl(fd, F_GETFD) == -1) {
        ThrowDeadDescriptor(env, errno);
        return false;
      }
    }
    return true;
  }

  // close(done?): `done` runs once the fd is really closed.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    const char* usage = "close(done?: function)";
    napi_value done;
    if (!args::Count(info, 0, 1, usage) || !args::OptionalFunction(info, 0, "done", usage, &done)) return info.Env().Undefined();
    if (watcher_ && !watcher_->closed()) watcher_->Close(done);
    queue_.clear();
    held_.clear();
    DropSelfReference();
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "ref()")) return info.Env().Undefined();
    if (watcher_) watcher_->Ref();
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "unref()")) return info.Env().Undefined();
    if (watcher_) watcher_->Unref();
    return info.Env().Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "pause()")) return info.Env().Undefined();
    reading_ = false;
    UpdatePoll();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (!args::Count(info, 0, 0, "resume()")) return info.Env().Undefined();
    reading_ = true;
    UpdatePoll();
    return info.Env().Undefined();
  }

  // hold(fds): the received descriptors the JS Channel keeps for frames not
  // yet complete (replaces the previous list). They are closed if the
  // environment goes away first; close() forgets them (JS closes them then).
  Napi::Value Hold(const Napi::CallbackInfo& info) {
    const char* usage = "hold(fds: descriptor[])";
    std::vector<int> fds;
    if (!args::Count(info, 1, 1, usage) || !args::FdArray(info, 0, "fds", usage, &fds)) return info.Env().Undefined();
    held_ = std::move(fds);
    return info.Env().Undefined();
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(queue_.size()));
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), IsClosed() ? -1 : watcher_->fd());
  }

  std::unique_ptr<ChannelWatcher> watcher_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_read_, on_written_, on_error_, on_end_;
  std::deque<OutMessage> queue_;
  std::vector<char> read_buffer_;
  std::vector<int> held_;
  // Per read of the current poll event: bytes, descriptor count (-1:
  // truncated), descriptors; and every descriptor received in it.
  std::vector<int32_t> reads_;
  std::vector<int> received_;
  // Control buffers for the reads of one poll event (one per read on Linux).
  std::vector<char> control_;
  bool reading_ = true;
  bool ended_ = false;
  // An error recvmmsg reported before the data still queued (see ReadSome):
  // reported once that data is read.
  int deferred_error_ = 0;
  // A write failed (the peer is gone or shut its end): nothing more is
  // written, but reading goes on to the end of the stream, because what the
  // peer wrote before it went (an ACCEPT, an ERROR) still has to be read:
  // PROTOCOL.md §7, a verdict is never dropped unread.
  bool write_failed_ = false;
  bool self_released_ = false;
};

void ChannelWatcher::OnPoll(int status, int events) { owner_->OnPoll(status, events); }
void ChannelWatcher::OnTeardown() { owner_->OnTeardown(); }

}  // namespace

Napi::Function InitChannel(Napi::Env env) { return NativeChannel::Init(env); }

}  // namespace handoff
