#!/usr/bin/env python3
"""A sibling in another language: the receiver side of PROTOCOL.md (version 1)
with the Python 3 standard library only (socket.recv_fds, Python >= 3.9).

It listens on a Unix socket, checks that each connecting sender runs under
our uid (SO_PEERCRED), exchanges HELLOs, and answers each HANDOFF with
ACCEPT (or REJECT); then it serves the HTTP request on the descriptor it was
given: the request head came in the HANDOFF, the bytes after it are the
`buffered` section followed by whatever the client sends next.

    python3 sibling.py /path/to/sibling.sock [--stop-on-eof]

Prints "[py-sibling PID] listening on PATH" when ready. SIGTERM / SIGINT
(or, with --stop-on-eof, the end of stdin: the parent went away): stops,
removes the socket file, exits 0.
"""
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

HEADER = struct.Struct(">2sBBBBHII")  # magic, version, type, flags, fdCount, reserved, id, bodyLength
HELLO, HANDOFF, ACCEPT, REJECT, STATUS, GOODBYE, ERROR = range(1, 8)
MAX_FRAME_SIZE = 1 << 20
MAX_JSON_BODY = 16 * 1024
HELLO_TIMEOUT = 5.0
SECTION_LIMITS = (65536, 65536, 524288)  # meta, head, buffered
CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
SO_PEERCRED = getattr(socket, "SO_PEERCRED", 17)

live_lock = threading.Lock()
live = 0
served = 0


def log(msg):
    try:
        print(f"[py-sibling {os.getpid()}] {msg}", flush=True)
    except OSError:
        pass  # nobody reads our output any more (the parent went away)


class Fatal(Exception):
    """Breaks the channel: send ERROR <reason> and close it."""
    def __init__(self, reason, message=""):
        super().__init__(message)
        self.reason = reason


class Refuse(Exception):
    """Refuses one HANDOFF: REJECT <reason>, keep the channel."""
    def __init__(self, reason, message="", retryable=False):
        super().__init__(message)
        self.reason, self.retryable = reason, retryable


def frame(ftype, fid, obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return HEADER.pack(b"HO", 1, ftype, 0, 0, 0, fid, len(body)) + body


def close_fds(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def read_frames(chan):
    """Yields (type, id, fdCount, body, fds, truncated) with descriptors tied to
    frames by the rule of PROTOCOL.md section 4: the descriptors of one recvmsg
    belong to the frame holding its last byte, if that frame begins within it."""
    buf = b""
    buf_start = 0  # stream offset of buf[0]
    offset = 0     # stream offset after everything received
    batches = []   # (start, end, fds, truncated) of recvmsg calls that brought descriptors
    try:
        while True:
            data, fds, flags, _ = socket.recv_fds(chan, 65536, 253, CLOEXEC)
            if not data:
                close_fds(fds)
                return
            truncated = bool(flags & socket.MSG_CTRUNC)
            if fds or truncated:
                batches.append((offset, offset + len(data), fds, truncated))
            offset += len(data)
            buf += data
            while len(buf) >= HEADER.size:
                magic, version, ftype, flg, fd_count, reserved, fid, length = HEADER.unpack_from(buf)
                if magic != b"HO":
                    raise Fatal("bad-magic", "not a fastify-handoff frame")
                if version != 1:
                    raise Fatal("bad-version", f"version {version}")
                if not 1 <= ftype <= 7:
                    raise Fatal("bad-type", f"type {ftype}")
                if flg != 0 or reserved != 0 or fd_count > 253 or (fd_count != 0 and ftype != HANDOFF):
                    raise Fatal("bad-frame", "bad header")
                if (fid == 0) == (ftype in (HANDOFF, ACCEPT, REJECT)):
                    raise Fatal("bad-frame", "bad id")
                size = HEADER.size + length
                if size > MAX_FRAME_SIZE or (ftype != HANDOFF and length > MAX_JSON_BODY):
                    raise Fatal("frame-too-large", f"{size} bytes")
                if len(buf) < size:
                    break
                start, end = buf_start, buf_start + size
                got, trunc = [], False
                while batches and batches[0][1] <= end:
                    b_start, b_end, b_fds, b_trunc = batches.pop(0)
                    if b_end > start and b_start <= start:
                        got, trunc = b_fds, b_trunc
                    else:
                        close_fds(b_fds)  # belong to no frame
                body = buf[HEADER.size:size]
                buf, buf_start = buf[size:], end
                yield ftype, fid, fd_count, body, got, trunc
    finally:
        for _, _, fds, _ in batches:
            close_fds(fds)


def json_body(body):
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Fatal("bad-message", "not JSON")
    if not isinstance(obj, dict):
        raise Fatal("bad-message", "not an object")
    return obj


def check_hello(hello):
    if hello.get("protocol") != "fastify-handoff":
        raise Fatal("bad-message", "not a fastify-handoff HELLO")
    if hello.get("role") != "sender":
        raise Fatal("role-mismatch", "a receiver talks to senders")
    version, min_version = hello.get("version"), hello.get("minVersion")
    if not isinstance(version, int) or not isinstance(min_version, int) or min_version > 1 or version < 1:
        raise Fatal("unsupported-version", "this receiver speaks version 1 only")


def parse_handoff(fd_count, body, fds, truncated):
    """Checks in the order of PROTOCOL.md section 9: descriptors, sections, metadata, descriptor kind."""
    if truncated:
        raise Refuse("descriptors-truncated", "the kernel truncated the descriptors", True)
    if fd_count > 1 or len(fds) > 1:
        raise Refuse("too-many-descriptors", f"{max(fd_count, len(fds))} descriptors")
    if fd_count != 1 or len(fds) != 1:
        raise Refuse("descriptors-missing", "no descriptor came with the HANDOFF")
    sections, off = [], 0
    for limit in SECTION_LIMITS:
        if off + 4 > len(body):
            raise Refuse("bad-frame", "sections do not add up")
        (n,) = struct.unpack_from(">I", body, off)
        if n > limit:
            raise Refuse("frame-too-large", "a section is over its limit")
        if off + 4 + n > len(body):
            raise Refuse("bad-frame", "sections do not add up")
        sections.append(body[off + 4:off + 4 + n])
        off += 4 + n
    if off != len(body):
        raise Refuse("bad-frame", "bytes after the last section")
    meta_bytes, head, buffered = sections
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refuse("bad-metadata", "meta is not JSON")
    if not isinstance(meta, dict) or meta.get("kind") not in ("upgrade", "request", "raw") \
            or not isinstance(meta.get("keepAlive"), bool) or not isinstance(meta.get("sentAt"), (int, float)):
        raise Refuse("bad-metadata", "meta lacks kind, keepAlive or sentAt")
    if meta["kind"] != "raw" and not head:
        raise Refuse("bad-metadata", "no request head")
    if meta["kind"] != "request":
        raise Refuse("unauthorized", "this sibling serves plain HTTP requests only")
    deadline = meta.get("deadline")
    if isinstance(deadline, (int, float)) and time.time() * 1000 >= deadline:
        raise Refuse("expired", "the HANDOFF's deadline has passed")
    client = socket.socket(fileno=fds[0])
    try:
        if client.family not in (socket.AF_INET, socket.AF_INET6) or client.type != socket.SOCK_STREAM:
            raise Refuse("bad-descriptor", "not a TCP stream socket")
        client.getpeername()  # a listening or unconnected socket has no peer
    except Refuse:
        client.detach()
        raise
    except OSError:
        client.detach()
        raise Refuse("bad-descriptor", "not a connected socket")
    return meta, head, buffered, client


def serve_client(client, meta, head, buffered):
    """Answers the one HTTP request whose head the web app passed on, then closes."""
    global live
    try:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target = (request_line.split(" ") + ["", ""])[:2]
        context = meta.get("context")
        peer = client.getpeername()
        payload = {
            "from": "python",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "method": method,
            "path": target,
            "context": context,
            "client": f"{peer[0]}:{peer[1]}",
            "bufferedBytes": len(buffered),
        }
        body = (json.dumps(payload) + "\n").encode()
        client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        log(f"served {method} {target} for {json.dumps(context)} ({payload['client']})")
    except OSError as e:
        log(f"client connection failed: {e}")
    finally:
        client.close()
        with live_lock:
            live -= 1


def serve_channel(chan):
    global live, served
    cred = chan.getsockopt(socket.SOL_SOCKET, SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", cred)
    try:
        if uid != os.getuid():
            raise Fatal("unauthorized", "untrusted credentials")
        chan.sendall(frame(HELLO, 0, {"protocol": "fastify-handoff", "version": 1, "minVersion": 1,
                                      "role": "receiver", "pid": os.getpid(),
                                      "maxFrameSize": MAX_FRAME_SIZE, "name": "python-sibling"}))
        hello = None
        chan.settimeout(HELLO_TIMEOUT)  # section 5: give up on a silent peer
        for ftype, fid, fd_count, body, fds, truncated in read_frames(chan):
            if hello is None or ftype == HELLO:
                close_fds(fds)
                if ftype != HELLO or hello is not None:
                    raise Fatal("unexpected-frame", "HELLO first, and only once")
                hello = json_body(body)
                check_hello(hello)
                chan.settimeout(None)
                log(f"sender pid {pid} ({hello.get('name', 'unnamed')}) connected")
                continue
            if ftype == GOODBYE or ftype == ERROR:
                close_fds(fds)
                log(f"sender pid {pid} said {'GOODBYE' if ftype == GOODBYE else 'ERROR'}: {json_body(body).get('reason')}")
                if ftype == ERROR:
                    return
                continue
            if ftype != HANDOFF:
                close_fds(fds)
                raise Fatal("unexpected-frame", f"a receiver does not receive type {ftype}")
            try:
                meta, head, buffered, client = parse_handoff(fd_count, body, fds, truncated)
            except Refuse as r:
                close_fds(fds)
                chan.sendall(frame(REJECT, fid, {"reason": r.reason, "message": str(r), "retryable": r.retryable}))
                log(f"rejected handoff {fid}: {r.reason}")
                continue
            with live_lock:
                live += 1
                served += 1
                now = live
            try:
                # Ours only once the ACCEPT is written (PROTOCOL.md section 7).
                chan.sendall(frame(ACCEPT, fid, {"live": now, "max": None}))
            except OSError:
                client.close()
                with live_lock:
                    live -= 1
                raise
            threading.Thread(target=serve_client, args=(client, meta, head, buffered), name=f"client-{fid}", daemon=True).start()
    except Fatal as f:
        log(f"dropping sender pid {pid}: {f.reason} {f}")
        try:
            chan.sendall(frame(ERROR, 0, {"reason": f.reason, "message": str(f)}))
        except OSError:
            pass
    except TimeoutError:
        log(f"dropping sender pid {pid}: no HELLO within {HELLO_TIMEOUT:g} s")
        try:
            chan.sendall(frame(ERROR, 0, {"reason": "timeout", "message": "no HELLO"}))
        except OSError:
            pass
    except OSError as e:
        log(f"sender pid {pid} channel failed: {e}")
    finally:
        chan.close()
        log(f"sender pid {pid} disconnected")


def main():
    args = sys.argv[1:]
    stop_on_eof = "--stop-on-eof" in args
    args = [a for a in args if a != "--stop-on-eof"]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    path = args[0]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is created 0600
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)

    eof_seen = threading.Event()

    class Stop(Exception):
        pass

    def stop(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise Stop("end of stdin" if eof_seen.is_set() else signal.Signals(signum).name)

    try:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if stop_on_eof:
            def watch_stdin():
                while os.read(0, 4096):
                    pass
                eof_seen.set()
                os.kill(os.getpid(), signal.SIGTERM)
            threading.Thread(target=watch_stdin, daemon=True).start()
        log(f"listening on {path}")
        while True:
            chan, _ = listener.accept()
            threading.Thread(target=serve_channel, args=(chan,), daemon=True).start()
    except Stop as why:
        log(f"stopping ({why}); served {served} request(s)")
    finally:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    # Let the requests being answered finish (they are short); channels die with the process.
    for t in threading.enumerate():
        if t.name.startswith("client-"):
            t.join(5)


if __name__ == "__main__":
    main()
