// Plain socket calls that Node has no API for: Unix sockets we can poll
// ourselves, what kind of thing a received descriptor is, and who the peer is.
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/ucred.h>
#endif

#include <string>

#include "args.h"
#include "channel.h"
#include "errors.h"
#include "platform.h"

namespace handoff {
namespace {

// Fills addr from a path, or from a Linux abstract name (leading NUL, no file).
bool MakeAddress(const std::string& name, bool abstract, struct sockaddr_un* addr, socklen_t* len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  size_t room = sizeof(addr->sun_path) - (abstract ? 1 : 1);
  if (name.empty() || name.size() > room) return false;
  if (abstract) {
#if !defined(__linux__)
    return false;
#else
    addr->sun_path[0] = '\0';
    memcpy(addr->sun_path + 1, name.data(), name.size());
    *len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + name.size());
#endif
  } else {
    memcpy(addr->sun_path, name.data(), name.size());
    *len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + name.size() + 1);
  }
  return true;
}

Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!args::Count(info, 0, 0, "socketpair()")) return env.Undefined();
  int sv[2];
#if defined(__linux__)
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    HANDOFF_THROW_ERRNO(env, "socketpair");
#else
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) HANDOFF_THROW_ERRNO(env, "socketpair");
  for (int fd : sv) {
    SetCloexec(fd);
    SetNonBlocking(fd);
    SetNoSigpipe(fd);
  }
#endif
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, sv[0]));
  out.Set(1u, Napi::Number::New(env, sv[1]));
  return out;
}

// listenAbstract(name, backlog): Linux's abstract namespace, no file. A path
// goes through listenUnixAt (unixpath.cc), which never trusts the path twice.
Napi::Value ListenAbstract(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "listenAbstract(name: string, backlog: integer)";
  std::string name;
  int backlog = 0;
  if (!args::Count(info, 2, 2, usage) || !args::String(info, 0, "name", usage, &name) ||
      !args::Int(info, 1, "backlog", 0, usage, &backlog))
    return env.Undefined();
  struct sockaddr_un addr;
  socklen_t len;
  if (!MakeAddress(name, true, &addr, &len)) {
    errno = EAFNOSUPPORT;
    HANDOFF_THROW_ERRNO(env, "bind");
  }
  int fd = NewUnixSocket();
  if (fd < 0) HANDOFF_THROW_ERRNO(env, "socket");
  const char* failed = nullptr;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), len) != 0) failed = "bind";
  else if (listen(fd, backlog) != 0) failed = "listen";
  if (failed != nullptr) {
    int e = errno;
    close(fd);
    errno = e;
    HANDOFF_THROW_ERRNO(env, failed);
  }
  return Napi::Number::New(env, fd);
}

// connectUnix(name, abstract): a connected, non-blocking socket, or a throw.
// AF_UNIX connects at once or fails at once; EAGAIN means the listener's
// backlog is full and the caller should try again later.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "connectUnix(name: string, abstract: boolean)";
  std::string name;
  bool abstract = false;
  if (!args::Count(info, 2, 2, usage) || !args::String(info, 0, "name", usage, &name) ||
      !args::Bool(info, 1, "abstract", usage, &abstract))
    return env.Undefined();
  struct sockaddr_un addr;
  socklen_t len;
  if (!MakeAddress(name, abstract, &addr, &len)) {
    errno = abstract ? EAFNOSUPPORT : ENAMETOOLONG;
    HANDOFF_THROW_ERRNO(env, "connect");
  }
  int fd = NewUnixSocket();
  if (fd < 0) HANDOFF_THROW_ERRNO(env, "socket");
  int r;
  do {
    r = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), len);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno == EINPROGRESS ? EAGAIN : errno;
    close(fd);
    errno = e;
    HANDOFF_THROW_ERRNO(env, "connect");
  }
  return Napi::Number::New(env, fd);
}

const char* FamilyName(int family) {
  switch (family) {
    case AF_UNIX: return "unix";
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    default: return nullptr;
  }
}

const char* TypeName(int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return nullptr;
  }
}

// fdInfo(fd): what a descriptor is, so a receiver can refuse what it cannot
// serve (a file where a TCP socket was promised) before touching it.
Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "fdInfo(fd: descriptor)";
  int fd = -1;
  if (!args::Count(info, 1, 1, usage) || !args::Fd(info, 0, "fd", usage, &fd)) return env.Undefined();
  struct stat st;
  if (fstat(fd, &st) != 0) HANDOFF_THROW_ERRNO(env, "fstat");
  Napi::Object out = Napi::Object::New(env);
  const char* kind = "other";
  if (S_ISSOCK(st.st_mode)) kind = "socket";
  else if (S_ISREG(st.st_mode)) kind = "file";
  else if (S_ISFIFO(st.st_mode)) kind = "fifo";
  else if (S_ISCHR(st.st_mode)) kind = "char";
  else if (S_ISDIR(st.st_mode)) kind = "dir";
  out.Set("kind", kind);
  if (S_ISSOCK(st.st_mode)) {
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &slen) == 0) {
      const char* f = FamilyName(ss.ss_family);
      if (f) out.Set("family", f);
      else out.Set("family", Napi::Number::New(env, ss.ss_family));
    }
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0) {
      const char* t = TypeName(type);
      if (t) out.Set("type", t);
      else out.Set("type", Napi::Number::New(env, type));
    }
    int acc = 0;
    socklen_t alen = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0)
      out.Set("listening", Napi::Boolean::New(env, acc != 0));
  }
  return out;
}

// isTcpSocket(fd): whether the descriptor is a TCP socket, in one syscall on
// Linux (SO_PROTOCOL). The receiver's hot path: it wraps a received
// descriptor in a TCP handle itself, without libuv's uv_guess_handle (fstat,
// SO_TYPE, getsockname) that new net.Socket({ fd }) runs; anything else is
// described by fdInfo on the (rare) refusal path. Connected or listening is
// for the caller's getpeername to tell. false for any error (not a socket,
// a closed descriptor): the caller then asks fdInfo what it is.
Napi::Value IsTcpSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "isTcpSocket(fd: descriptor)";
  int fd = -1;
  if (!args::Count(info, 1, 1, usage) || !args::Fd(info, 0, "fd", usage, &fd)) return env.Undefined();
  bool tcp = false;
#if defined(SO_PROTOCOL)
  int protocol = 0;
  socklen_t plen = sizeof(protocol);
  tcp = getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &plen) == 0 && protocol == IPPROTO_TCP;
#else
  int type = 0;
  socklen_t tlen = sizeof(type);
  struct sockaddr_storage ss;
  socklen_t slen = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  tcp = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM &&
        getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &slen) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
#endif
  return Napi::Boolean::New(env, tcp);
}

// peerCredentials(fd): who is on the other end of a connected AF_UNIX socket.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "peerCredentials(fd: descriptor)";
  int fd = -1;
  if (!args::Count(info, 1, 1, usage) || !args::Fd(info, 0, "fd", usage, &fd)) return env.Undefined();
  double pid = -1, uid, gid;
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) HANDOFF_THROW_ERRNO(env, "getsockopt");
  pid = cred.pid;
  uid = cred.uid;
  gid = cred.gid;
#elif defined(__APPLE__)
  uid_t u;
  gid_t g;
  if (getpeereid(fd, &u, &g) != 0) HANDOFF_THROW_ERRNO(env, "getpeereid");
  uid = u;
  gid = g;
#if defined(LOCAL_PEERPID)
  pid_t p;
  socklen_t len = sizeof(p);
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) == 0) pid = p;
#endif
#else
  errno = ENOTSUP;
  HANDOFF_THROW_ERRNO(env, "getsockopt");
#endif
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("uid", Napi::Number::New(env, uid));
  out.Set("gid", Napi::Number::New(env, gid));
  return out;
}

// setBufferSizes(fd, sndbuf, rcvbuf): 0 leaves a size alone. Small buffers
// make back-pressure (EAGAIN, partial writes) happen early, e.g. in tests.
Napi::Value SetBufferSizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "setBufferSizes(fd: descriptor, sndbuf: integer >= 0, rcvbuf: integer >= 0)";
  int fd = -1;
  int sizes[2] = {0, 0};
  if (!args::Count(info, 3, 3, usage) || !args::Fd(info, 0, "fd", usage, &fd) ||
      !args::Int(info, 1, "sndbuf", 0, usage, &sizes[0]) || !args::Int(info, 2, "rcvbuf", 0, usage, &sizes[1]))
    return env.Undefined();
  int opts[2] = {SO_SNDBUF, SO_RCVBUF};
  for (int i = 0; i < 2; i++) {
    if (sizes[i] > 0 && setsockopt(fd, SOL_SOCKET, opts[i], &sizes[i], sizeof(int)) != 0)
      HANDOFF_THROW_ERRNO(env, "setsockopt");
  }
  return env.Undefined();
}

// closeFd(fd): for descriptors that never reached a libuv handle (a rejected
// handoff, the spare end of a socketpair). Never for one that libuv watches.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "closeFd(fd: descriptor)";
  int fd = -1;
  if (!args::Count(info, 1, 1, usage) || !args::Fd(info, 0, "fd", usage, &fd)) return env.Undefined();
  if (close(fd) != 0 && errno != EINTR) HANDOFF_THROW_ERRNO(env, "close");
  return env.Undefined();
}

// setCloexec(fd): for descriptors inherited without it (systemd's
// LISTEN_FDS): a process this one starts must not keep our listening socket.
Napi::Value SetCloexecFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    args::ThrowTypeError(env, "setCloexec(fd: number)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fcntl(fd, F_GETFD) < 0) HANDOFF_THROW_ERRNO(env, "fcntl");
  SetCloexec(fd);
  return env.Undefined();
}

}  // namespace

void InitSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New<Socketpair>(env, "socketpair"));
  exports.Set("listenAbstract", Napi::Function::New<ListenAbstract>(env, "listenAbstract"));
  exports.Set("connectUnix", Napi::Function::New<ConnectUnix>(env, "connectUnix"));
  exports.Set("fdInfo", Napi::Function::New<FdInfo>(env, "fdInfo"));
  exports.Set("isTcpSocket", Napi::Function::New<IsTcpSocket>(env, "isTcpSocket"));
  exports.Set("peerCredentials", Napi::Function::New<PeerCredentials>(env, "peerCredentials"));
  exports.Set("setBufferSizes", Napi::Function::New<SetBufferSizes>(env, "setBufferSizes"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("setCloexec", Napi::Function::New<SetCloexecFd>(env, "setCloexec"));
}

}  // namespace handoff
