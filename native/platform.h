// The few places where Linux and macOS differ for SCM_RIGHTS on AF_UNIX.
#pragma once
#include <fcntl.h>
#include <sys/socket.h>

namespace handoff {

#if defined(MSG_CMSG_CLOEXEC)
// Linux: the kernel marks received descriptors close-on-exec atomically.
constexpr int kRecvFlags = MSG_CMSG_CLOEXEC | MSG_DONTWAIT;
constexpr bool kNeedCloexecAfterRecv = false;
#else
// macOS: no such flag; fcntl right after recvmsg (the race libuv accepts too).
constexpr int kRecvFlags = MSG_DONTWAIT;
constexpr bool kNeedCloexecAfterRecv = true;
#endif

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
#else
constexpr int kSendFlags = MSG_DONTWAIT;  // SO_NOSIGPIPE is set on the socket instead
#endif

inline void SetCloexec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

inline int SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return -1;
  return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// No SIGPIPE when the peer is gone: we want EPIPE.
inline void SetNoSigpipe(int fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
  (void)fd;
#endif
}

// A non-blocking, close-on-exec AF_UNIX stream socket (atomically on Linux).
inline int NewUnixSocket() {
#if defined(__linux__)
  return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd >= 0) {
    SetCloexec(fd);
    SetNonBlocking(fd);
    SetNoSigpipe(fd);
  }
  return fd;
#endif
}

// SCM_MAX_FD on Linux: the most descriptors one message may carry.
constexpr int kMaxFdsPerMessage = 253;

}  // namespace handoff
