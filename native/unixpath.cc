// A Unix socket file that no path trick can turn against us (issue #11).
//
// The socket's directory is opened once (openDirectory) and every later step
// is relative to that descriptor, so retargeting a symlink anywhere in the
// path afterwards changes nothing we do:
//
// listenUnixAt(dirFd, name, dirPath, backlog, mode):
//   1. mkdirat a private directory next to the socket (".handoff-<random>",
//      0700, checked ours through its own descriptor), bind "s" inside it and
//      set the mode there with fchmodat: nobody else can reach into that
//      directory, so the mode is never set through a path someone could swap
//      (no chmod(path)), and no umask() (process-wide, racy with libuv's
//      threadpool) is needed;
//   2. listen, then record the socket file's device and inode;
//   3. put it at `name` without a window in which anything else is removed:
//      nothing there -> linkat (fails with EEXIST rather than replace; works
//      on every filesystem that has hard links, unlike RENAME_NOREPLACE);
//      a socket nobody answers on (stale) -> swapped in atomically
//      (renameat2 RENAME_EXCHANGE / renameatx_np RENAME_SWAP), and only if
//      what came back into the private directory is the very inode that was
//      probed is it removed; otherwise it is swapped back, untouched;
//      a live socket -> refused; anything else -> refused, never removed.
//   4. the private directory goes.
//
// NativeListener.close() (listener.cc, through UnlinkIfSame) removes `name`
// only if it is still the inode we created (checked without following
// symlinks), relative to the directory opened at listen, which it then
// closes: a name retargeted elsewhere is never followed.
//
// bind() and connect() take no directory descriptor. On Linux they go through
// /proc/self/fd/<fd>/..., which names the directory (or, for the probe, the
// socket inode itself through an O_PATH descriptor) whatever happened to the
// path since. Without /proc (macOS, a chroot), they use the path and the
// result is checked through the descriptors afterwards: best effort, as
// documented in docs/receiver.md.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if defined(__APPLE__)
#include <stdio.h>  // renameatx_np, RENAME_SWAP
#endif

#include <random>
#include <string>

#include "args.h"
#include "channel.h"
#include "errors.h"
#include "platform.h"

namespace handoff {
namespace {

#if defined(O_PATH)
// A directory descriptor that needs no read permission: it is only ever a
// base for *at() calls and /proc/self/fd.
constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_CLOEXEC;
#else
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
#endif

constexpr const char* kInner = "s";  // the socket's name inside the private directory

// Keeps errno across cleanup calls that may set it.
class SaveErrno {
 public:
  SaveErrno() : saved_(errno) {}
  ~SaveErrno() { errno = saved_; }

 private:
  int saved_;
};

// HANDOFF_NO_PROCFD (a build flag) takes the path-based way on Linux too, so
// the way macOS goes can be tested here.
bool HaveProcFd() {
#if defined(__linux__) && !defined(HANDOFF_NO_PROCFD)
  static const bool have = access("/proc/self/fd", X_OK) == 0;
  return have;
#else
  return false;
#endif
}

// "/proc/self/fd/<fd>" + suffix: always well inside sun_path's 108 bytes.
std::string ProcPath(int fd, const char* suffix) {
  char buf[64];
  snprintf(buf, sizeof(buf), "/proc/self/fd/%d%s", fd, suffix);
  return buf;
}

bool FillPath(const std::string& path, struct sockaddr_un* addr, socklen_t* len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() > sizeof(addr->sun_path) - 1) return false;
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

std::string RandomName() {
  std::random_device rd;
  char buf[32];
  snprintf(buf, sizeof(buf), ".handoff-%08x", static_cast<unsigned>(rd()));
  return buf;
}

bool SameFile(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

bool IsNameArg(const Napi::Value& v) {
  if (!v.IsString()) return false;
  std::string s = v.As<Napi::String>().Utf8Value();
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

Napi::Value TypeError(Napi::Env env, const char* usage) {
  args::ThrowTypeError(env, usage);
  return env.Undefined();
}

// openDirectory(path): { fd, chain: [{ uid, mode }, ...] }. The directory is
// opened once; `chain` describes it and then each of its real ancestors up to
// "/", found through ".." of the descriptors (not the path, which may contain
// symlinks), for the caller's rule on who else may write there.
Napi::Value OpenDirectory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "openDirectory(path: string)";
  std::string path;
  if (!args::Count(info, 1, 1, usage) || !args::String(info, 0, "path", usage, &path)) return env.Undefined();
  if (path.empty() || path.find('\0') != std::string::npos) return TypeError(env, usage);
  int fd = open(path.c_str(), kDirFlags);
  if (fd < 0) HANDOFF_THROW_ERRNO(env, "open");
  Napi::Array chain = Napi::Array::New(env);
  int cur = fd;
  struct stat st, prev;
  for (uint32_t depth = 0; depth < 256; depth++) {
    if (fstat(cur, &st) != 0) {
      SaveErrno keep;
      if (cur != fd) close(cur);
      close(fd);
      HANDOFF_THROW_ERRNO(env, "fstat");
    }
    if (depth > 0 && SameFile(st, prev)) break;  // ".." of "/" is "/"
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("uid", Napi::Number::New(env, st.st_uid));
    entry.Set("mode", Napi::Number::New(env, st.st_mode & 07777));
    chain.Set(depth, entry);
    prev = st;
    int up = openat(cur, "..", kDirFlags);
    if (cur != fd) close(cur);
    if (up < 0) {
      cur = fd;
      break;  // an ancestor we may not search: the chain stops there
    }
    cur = up;
  }
  if (cur != fd) close(cur);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("chain", chain);
  return out;
}

// Makes and checks the private directory: ours, 0700, reached only through
// its descriptor. Returns its descriptor (name in *name) or -1 with errno.
int MakePrivateDir(int dir_fd, std::string* name) {
  for (int attempt = 0; attempt < 16; attempt++) {
    *name = RandomName();
    if (mkdirat(dir_fd, name->c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;  // somebody's name (or a guess): another one
      return -1;
    }
    int fd = openat(dir_fd, name->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() && fchmod(fd, 0700) == 0) return fd;
    // Swapped for something else between mkdirat and openat: not ours to
    // remove (it may be somebody's); try a fresh name.
    SaveErrno keep;
    if (fd >= 0) close(fd);
  }
  errno = EEXIST;
  return -1;
}

// Swaps our socket ("s" in the private directory) with `name`: 0, or -1 with
// errno (EINVAL/ENOSYS/ENOTSUP: this filesystem or kernel cannot).
int Exchange(int priv_fd, int dir_fd, const char* name) {
#if defined(__linux__) && defined(SYS_renameat2)
  return static_cast<int>(syscall(SYS_renameat2, priv_fd, kInner, dir_fd, name, 1 << 1 /* RENAME_EXCHANGE */));
#elif defined(__APPLE__) && defined(RENAME_SWAP)
  return renameatx_np(priv_fd, kInner, dir_fd, name, RENAME_SWAP);
#else
  errno = ENOSYS;
  return -1;
#endif
}

enum class Probe { kGone, kStale, kLive, kNotSocket, kError };

// What is at `name` now: its stat in *st, and for a socket whether anybody
// answers on it. On Linux the connect goes to the very inode just checked
// (through an O_PATH descriptor), never to what the name says a moment later.
Probe ProbeName(int dir_fd, const std::string& dir_path, const char* name, struct stat* st) {
  int target = -1;
#if defined(O_PATH)
  if (HaveProcFd()) {
    target = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0) return errno == ENOENT ? Probe::kGone : Probe::kError;
    if (fstat(target, st) != 0) {
      SaveErrno keep;
      close(target);
      return Probe::kError;
    }
  }
#endif
  if (target < 0 && fstatat(dir_fd, name, st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Probe::kGone : Probe::kError;
  }
  if (!S_ISSOCK(st->st_mode)) {
    if (target >= 0) close(target);
    return Probe::kNotSocket;
  }
  std::string path = target >= 0 ? ProcPath(target, "") : dir_path + "/" + name;
  struct sockaddr_un addr;
  socklen_t len;
  int r = -1, err = ENAMETOOLONG;
  if (FillPath(path, &addr, &len)) {
    int s = NewUnixSocket();
    if (s < 0) {
      err = errno;
    } else {
      do {
        r = connect(s, reinterpret_cast<struct sockaddr*>(&addr), len);
      } while (r != 0 && errno == EINTR);
      err = r == 0 ? 0 : errno;
      close(s);
    }
  }
  if (target >= 0) close(target);
  if (r == 0 || err == EAGAIN || err == EINPROGRESS) return Probe::kLive;  // a full backlog is somebody too
  if (err == ECONNREFUSED) return Probe::kStale;
  if (err == ENOENT) return Probe::kGone;
  errno = err;
  return Probe::kError;
}

// Puts the socket file "s" of the private directory at `name`. Returns 0, or
// -1 with errno and *syscall set; EADDRINUSE with *live saying which kind.
// *stranded: somebody else's file is left as "s" (a swap back failed): the
// caller must not remove it.
int Place(int priv_fd, int dir_fd, const std::string& dir_path, const char* name, const char** syscall, bool* live,
          bool* stranded) {
  for (int attempt = 0; attempt < 8; attempt++) {
    if (linkat(priv_fd, kInner, dir_fd, name, 0) == 0) return 0;
    if (errno != EEXIST) {
      *syscall = "link";
      return -1;
    }
    struct stat there;
    switch (ProbeName(dir_fd, dir_path, name, &there)) {
      case Probe::kGone:
        continue;  // removed meanwhile: link again
      case Probe::kLive:
      case Probe::kNotSocket:
        *live = true;
        if (!S_ISSOCK(there.st_mode)) *live = false;
        errno = EADDRINUSE;
        *syscall = "bind";
        return -1;
      case Probe::kError:
        *syscall = "connect";
        return -1;
      case Probe::kStale:
        break;
    }
    if (Exchange(priv_fd, dir_fd, name) == 0) {
      // Whatever was at `name` is now "s" in our directory. Only the stale
      // inode we probed may go; anything else goes back where it was.
      struct stat back;
      if (fstatat(priv_fd, kInner, &back, AT_SYMLINK_NOFOLLOW) == 0 && SameFile(back, there)) {
        unlinkat(priv_fd, kInner, 0);
        return 0;
      }
      if (Exchange(priv_fd, dir_fd, name) != 0) {
        *stranded = true;
        *syscall = "rename";
        return -1;
      }
      continue;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP) {
      *syscall = "rename";
      return -1;
    }
    // No exchange on this filesystem: replace by rename (itself atomic: the
    // name never goes missing) right after checking the inode again. The
    // window between the two is the one documented limit of this fallback.
    struct stat now;
    if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 || !SameFile(now, there)) continue;
    if (renameat(priv_fd, kInner, dir_fd, name) == 0) return 0;
    *syscall = "rename";
    return -1;
  }
  // The name kept changing under us: somebody else is busy with it.
  *live = true;
  errno = EADDRINUSE;
  *syscall = "bind";
  return -1;
}

// listenUnixAt(dirFd, name, dirPath, backlog, mode): { fd, dev, ino } or a
// throw. EADDRINUSE (syscall "bind") carries `live: true` when somebody
// answers on `name`, `live: false` when `name` is not a socket. mode < 0
// keeps what bind made.
Napi::Value ListenUnixAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "listenUnixAt(dirFd: descriptor, name: string, dirPath: string, backlog: integer >= 0, mode: integer >= -1)";
  int dir_fd = -1, backlog = 0, mode = -1;
  std::string name, dir_path;
  if (!args::Count(info, 5, 5, usage) || !args::Fd(info, 0, "dirFd", usage, &dir_fd) ||
      !args::String(info, 1, "name", usage, &name) || !args::String(info, 2, "dirPath", usage, &dir_path) ||
      !args::Int(info, 3, "backlog", 0, usage, &backlog) || !args::Int(info, 4, "mode", -1, usage, &mode))
    return env.Undefined();
  if (!IsNameArg(info[1])) {
    args::Fail(info, usage, "name must be one file name (not empty, \".\" or \"..\", no \"/\" nor NUL)");
    return env.Undefined();
  }

  // Senders connect by the whole path: it must fit sun_path, as before.
  struct sockaddr_un addr;
  socklen_t len;
  if (!FillPath(dir_path + "/" + name, &addr, &len)) {
    errno = ENAMETOOLONG;
    HANDOFF_THROW_ERRNO(env, "bind");
  }
  std::string priv_name;
  int priv_fd = MakePrivateDir(dir_fd, &priv_name);
  if (priv_fd < 0) HANDOFF_THROW_ERRNO(env, "mkdir");
  const char* failed = nullptr;
  bool live = false, stranded = false;
  struct stat ours;
  int fd = NewUnixSocket();
  if (fd < 0) failed = "socket";
  if (!failed) {
    std::string where = HaveProcFd() ? ProcPath(priv_fd, "/s") : dir_path + "/" + priv_name + "/s";
    if (!FillPath(where, &addr, &len)) {
      errno = ENAMETOOLONG;
      failed = "bind";
    } else if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), len) != 0) {
      failed = "bind";
    }
  }
  // Without /proc the bind went by path: it counts only if the socket landed
  // in our directory (checked through its descriptor).
  if (!failed && fstatat(priv_fd, kInner, &ours, AT_SYMLINK_NOFOLLOW) != 0) failed = "bind";
  if (!failed && !S_ISSOCK(ours.st_mode)) {
    errno = EEXIST;
    failed = "bind";
  }
  if (!failed && mode >= 0 && fchmodat(priv_fd, kInner, static_cast<mode_t>(mode & 07777), 0) != 0) failed = "chmod";
  if (!failed && listen(fd, backlog) != 0) failed = "listen";
  if (!failed && Place(priv_fd, dir_fd, dir_path, name.c_str(), &failed, &live, &stranded) != 0 && failed == nullptr)
    failed = "rename";
  {
    SaveErrno keep;
    // Our private name for the socket (or nothing: a swapped stale one is
    // gone), unless a failed swap back left somebody's file there: that one
    // stays, with the private directory around it.
    if (!stranded) unlinkat(priv_fd, kInner, 0);
    close(priv_fd);
    unlinkat(dir_fd, priv_name.c_str(), AT_REMOVEDIR);
    if (failed && fd >= 0) close(fd);
  }
  if (failed) {
    Napi::Error err = SystemError(env, errno, failed);
    if (errno == EADDRINUSE && strcmp(failed, "bind") == 0) err.Set("live", Napi::Boolean::New(env, live));
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(ours.st_dev)));
  out.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(ours.st_ino)));
  return out;
}

}  // namespace

int UnlinkIfSame(int dir_fd, const char* name, uint64_t dev, uint64_t ino) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -1;
  if (static_cast<uint64_t>(st.st_dev) != dev || static_cast<uint64_t>(st.st_ino) != ino) return 0;
  // Whoever might still swap the name in this instant can write this very
  // directory: the worst left is that we remove an entry of theirs in it,
  // never anything elsewhere (unlinkat removes a name and follows nothing).
  if (unlinkat(dir_fd, name, 0) != 0) return errno == ENOENT ? 0 : -1;
  return 1;
}

void InitUnixPath(Napi::Env env, Napi::Object exports) {
  exports.Set("openDirectory", Napi::Function::New<OpenDirectory>(env, "openDirectory"));
  exports.Set("listenUnixAt", Napi::Function::New<ListenUnixAt>(env, "listenUnixAt"));
}

}  // namespace handoff
