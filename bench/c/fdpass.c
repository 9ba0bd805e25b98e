/*
 * fdpass: the floor for passing a descriptor with a small frame over an
 * AF_UNIX stream socket, in C. Two processes over a socketpair: the parent
 * sends frames of `frame_size` bytes (16-byte header + body), each carrying one
 * TCP socket descriptor in SCM_RIGHTS, in a sendmsg of its own; the child
 * receives them (MSG_CMSG_CLOEXEC), closes each descriptor and answers each
 * frame with an `ack_size`-byte acknowledgement. At most `window` frames are
 * unacknowledged. Then a round-trip phase with one frame in flight.
 *
 * usage: fdpass frame_size ack_size with_fd warmup rate_max rate_seconds window rtt_max rtt_seconds
 * prints one JSON line.
 *
 * Header (big-endian, as in PROTOCOL.md): magic "HO", version, type, flags,
 * fdCount, reserved(2), id(4), bodyLength(4).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER 16
#define T_HANDOFF 2
#define T_ACCEPT 3
#define T_MARK 100  /* bench only: "report your CPU time" */
#define T_END 101   /* bench only: "exit" */
#define MAX_FDS 253

static void die(const char *what) {
  fprintf(stderr, "fdpass: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

static void put_header(unsigned char *h, int type, int fd_count, uint32_t id, uint32_t body) {
  h[0] = 0x48; h[1] = 0x4f; h[2] = 1; h[3] = (unsigned char)type; h[4] = 0; h[5] = (unsigned char)fd_count;
  h[6] = 0; h[7] = 0;
  uint32_t n = htonl(id); memcpy(h + 8, &n, 4);
  n = htonl(body); memcpy(h + 12, &n, 4);
}

static uint32_t get32(const unsigned char *p) { uint32_t n; memcpy(&n, p, 4); return ntohl(n); }

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) { if (errno == EINTR) continue; die("send"); }
    p += n; len -= (size_t)n;
  }
}

/* A byte stream cut into frames. */
struct reader {
  int fd;
  unsigned char *buf;
  size_t cap, start, end;
  int fds[4096];
  int nfds, fd_head;
};

static void reader_init(struct reader *r, int fd) {
  memset(r, 0, sizeof(*r));
  r->fd = fd;
  r->cap = 256 * 1024;
  r->buf = malloc(r->cap);
  if (!r->buf) die("malloc");
}

/* One recvmsg; returns bytes read (0 on EOF). Descriptors are queued. */
static ssize_t reader_fill(struct reader *r) {
  if (r->start > 0 && r->start == r->end) r->start = r->end = 0;
  if (r->cap - r->end < 64 * 1024) {
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start; r->start = 0;
  }
  char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
  struct iovec iov = { r->buf + r->end, r->cap - r->end };
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov; msg.msg_iovlen = 1;
  msg.msg_control = control; msg.msg_controllen = sizeof(control);
  ssize_t n;
  do { n = recvmsg(r->fd, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
  if (n < 0) die("recvmsg");
  if (msg.msg_flags & MSG_CTRUNC) { errno = EMFILE; die("recvmsg: MSG_CTRUNC"); }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd; memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      r->fds[(r->fd_head + r->nfds++) % 4096] = fd;
    }
  }
  r->end += (size_t)n;
  return n;
}

/* Next whole frame already buffered, or NULL. */
static unsigned char *reader_next(struct reader *r, size_t *size) {
  if (r->end - r->start < HEADER) return NULL;
  unsigned char *h = r->buf + r->start;
  size_t total = HEADER + get32(h + 12);
  if (r->end - r->start < total) return NULL;
  r->start += total;
  *size = total;
  return h;
}

static int reader_take_fd(struct reader *r) {
  if (r->nfds == 0) return -1;
  int fd = r->fds[r->fd_head];
  r->fd_head = (r->fd_head + 1) % 4096; r->nfds--;
  return fd;
}

static void receiver(int sock, size_t ack_size) {
  struct reader r;
  reader_init(&r, sock);
  unsigned char *ack = calloc(1, ack_size);
  memset(ack + HEADER, ' ', ack_size - HEADER);
  for (;;) {
    if (reader_fill(&r) == 0) exit(0);
    size_t size;
    unsigned char *f;
    while ((f = reader_next(&r, &size)) != NULL) {
      int type = f[3];
      if (type == T_HANDOFF) {
        uint32_t id = get32(f + 8);
        if (f[5] > 0) {
          int fd = reader_take_fd(&r);
          if (fd < 0) { errno = EPROTO; die("frame without its descriptor"); }
          close(fd);
        }
        put_header(ack, T_ACCEPT, 0, id, (uint32_t)(ack_size - HEADER));
        write_all(sock, ack, ack_size);
      } else if (type == T_MARK) {
        unsigned char reply[HEADER + 8];
        put_header(reply, T_MARK, 0, 0, 8);
        double c = cpu_us();
        memcpy(reply + HEADER, &c, 8);
        write_all(sock, reply, sizeof(reply));
      } else if (type == T_END) {
        exit(0);
      }
    }
  }
}

struct sender {
  int sock, pass_fd, with_fd;
  unsigned char *frame;
  size_t frame_size;
  struct reader r;
  uint32_t next_id;
  long acks;    /* ACCEPTs received so far */
  double mark;  /* the receiver's CPU time from its last MARK reply, -1 until one comes */
};

/* Takes every whole frame buffered so far. */
static void sender_take(struct sender *s) {
  size_t size;
  unsigned char *f;
  while ((f = reader_next(&s->r, &size)) != NULL) {
    if (f[3] == T_ACCEPT) s->acks++;
    else if (f[3] == T_MARK) memcpy(&s->mark, f + HEADER, 8);
  }
}

/* Waits until the socket is readable (and reads once) or, if `want_out`, writable. */
static void sender_wait(struct sender *s, int want_out) {
  struct pollfd p = { s->sock, POLLIN | (want_out ? POLLOUT : 0), 0 };
  int r;
  do { r = poll(&p, 1, -1); } while (r < 0 && errno == EINTR);
  if (r < 0) die("poll");
  if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
    if (reader_fill(&s->r) == 0) { errno = EPIPE; die("receiver went away"); }
    sender_take(s);
  }
}

/* Sends one HANDOFF (non-blocking socket: reads acknowledgements while the kernel is full). */
static void send_handoff(struct sender *s) {
  put_header(s->frame, T_HANDOFF, s->with_fd ? 1 : 0, ++s->next_id, (uint32_t)(s->frame_size - HEADER));
  struct iovec iov = { s->frame, s->frame_size };
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov; msg.msg_iovlen = 1;
  if (s->with_fd) {
    memset(control, 0, sizeof(control));
    msg.msg_control = control; msg.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &s->pass_fd, sizeof(int));
  }
  size_t done = 0;
  while (done < s->frame_size) {
    ssize_t n = sendmsg(s->sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { sender_wait(s, 1); continue; }
      die("sendmsg");
    }
    done += (size_t)n;
    /* the rest (if the kernel took part of it) goes without the descriptor */
    iov.iov_base = s->frame + done; iov.iov_len = s->frame_size - done;
    msg.msg_control = NULL; msg.msg_controllen = 0;
  }
}

static void send_plain(struct sender *s, const unsigned char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(s->sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { sender_wait(s, 1); continue; }
      die("send");
    }
    buf += n; len -= (size_t)n;
  }
}

static double receiver_cpu(struct sender *s) {
  unsigned char m[HEADER];
  put_header(m, T_MARK, 0, 0, 0);
  s->mark = -1;
  send_plain(s, m, HEADER);
  while (s->mark < 0) sender_wait(s, 0);
  return s->mark;
}

/* Streams up to `max` passes with at most `window` unacknowledged, for at most `seconds`. */
static long stream(struct sender *s, long max, double seconds, long window) {
  double deadline = now_us() + seconds * 1e6;
  long base = s->acks, sent = 0;
  int stop = 0;
  while (s->acks - base < sent || (!stop && sent < max)) {
    while (!stop && sent < max && sent - (s->acks - base) < window) {
      send_handoff(s);
      sent++;
      if ((sent & 63) == 0 && now_us() > deadline) stop = 1;
    }
    if (s->acks - base < sent) sender_wait(s, 0);
    if (now_us() > deadline) stop = 1;
  }
  return s->acks - base;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p) {
  if (n == 0) return 0;
  long rank = (long)(p / 100.0 * n + 0.999999) - 1;
  if (rank < 0) rank = 0;
  if (rank >= n) rank = n - 1;
  return v[rank];
}

/* A connected TCP socket on loopback: the descriptor that gets passed. */
static int tcp_socket(int *keep_peer, int *keep_listener) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) die("socket");
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); a.sin_port = 0;
  if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
  if (listen(l, 1) < 0) die("listen");
  socklen_t len = sizeof(a);
  getsockname(l, (struct sockaddr *)&a, &len);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) die("connect");
  int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (s < 0) die("accept");
  *keep_peer = c; *keep_listener = l;
  return s;
}

int main(int argc, char **argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: fdpass frame_size ack_size with_fd warmup rate_max rate_seconds window rtt_max rtt_seconds\n");
    return 2;
  }
  size_t frame_size = (size_t)atol(argv[1]);
  size_t ack_size = (size_t)atol(argv[2]);
  int with_fd = atoi(argv[3]);
  long warmup = atol(argv[4]), rate_max = atol(argv[5]);
  double rate_seconds = atof(argv[6]);
  long window = atol(argv[7]), rtt_max = atol(argv[8]);
  double rtt_seconds = atof(argv[9]);
  if (frame_size < HEADER || ack_size < HEADER) { fprintf(stderr, "sizes must be >= 16\n"); return 2; }

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  /* a hard bound on the whole run, whatever happens */
  unsigned budget = (unsigned)(rate_seconds + rtt_seconds + 30);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  alarm(budget);
  if (pid == 0) {
    close(sv[0]);
    receiver(sv[1], ack_size);
    return 0;
  }
  close(sv[1]);

  int peer, listener;
  struct sender s;
  memset(&s, 0, sizeof(s));
  s.sock = sv[0];
  s.pass_fd = tcp_socket(&peer, &listener);
  s.with_fd = with_fd;
  s.frame_size = frame_size;
  s.frame = calloc(1, frame_size);
  memset(s.frame + HEADER, 'a', frame_size - HEADER);
  reader_init(&s.r, sv[0]);
  s.mark = -1;

  stream(&s, warmup, 5, window);

  double rc0 = receiver_cpu(&s);
  double sc0 = cpu_us(), t0 = now_us();
  long passes = stream(&s, rate_max, rate_seconds, window);
  double t1 = now_us(), sc1 = cpu_us();
  double rc1 = receiver_cpu(&s);

  double *lat = malloc(sizeof(double) * (size_t)(rtt_max > 0 ? rtt_max : 1));
  long n = 0;
  double rtt_deadline = now_us() + rtt_seconds * 1e6;
  while (n < rtt_max && now_us() < rtt_deadline) {
    double a = now_us();
    long before = s.acks;
    send_handoff(&s);
    while (s.acks == before) sender_wait(&s, 0);
    lat[n++] = now_us() - a;
  }
  qsort(lat, (size_t)n, sizeof(double), cmp_double);

  unsigned char end[HEADER];
  put_header(end, T_END, 0, 0, 0);
  write_all(s.sock, end, HEADER);
  int status;
  waitpid(pid, &status, 0);

  double secs = (t1 - t0) / 1e6;
  printf("{\"passes\":%ld,\"seconds\":%.6f,\"rate\":%.1f,\"senderCpuUs\":%.3f,\"receiverCpuUs\":%.3f,"
         "\"rttN\":%ld,\"rttP50\":%.3f,\"rttP99\":%.3f,\"frameSize\":%zu,\"ackSize\":%zu,\"window\":%ld}\n",
         passes, secs, passes / secs, (sc1 - sc0) / passes, (rc1 - rc0) / passes,
         n, pct(lat, n, 50), pct(lat, n, 99), frame_size, ack_size, window);
  return 0;
}
