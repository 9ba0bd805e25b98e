// From a received descriptor back to a net.Socket that yields the client's
// byte stream exactly as the client sent it: the bytes the sender had already
// read (request head + whatever followed) first, then what the kernel holds.
import type net from 'node:net'
import { socketOnFd, tcpSocketOnFd } from '../internals.js'
import { binding, describeFd, isTcpStream } from '../native.js'
import { isRejection, rejection } from './rejection.js'

/**
 * Rejects (reason "bad-descriptor") anything but a connected TCP stream
 * socket: a file, a pipe, a Unix socket, a UDP socket or a listening socket
 * passed by mistake (or malice) must never reach an HTTP server. Node would
 * wrap a Unix stream socket in a Pipe without complaint, so the kind has to
 * be checked here, by the kernel's word (fstat + getsockname + SO_TYPE).
 */
export function checkDescriptor (fd: number): void {
  let info
  try {
    info = binding.fdInfo(fd)
  } catch (err) {
    throw rejection('bad-descriptor', `the descriptor cannot be inspected: ${(err as Error).message}`, { cause: err })
  }
  if (!isTcpStream(info) || info.listening === true) {
    throw rejection('bad-descriptor', `expected a connected TCP socket, got ${describeFd(info)}`)
  }
}

export interface RebuildOptions {
  allowHalfOpen?: boolean
  highWaterMark?: number
}

/**
 * Wraps `fd` in a net.Socket that has not read anything yet, if it is a TCP
 * socket (REJECT "bad-descriptor" otherwise). On success the socket owns the
 * descriptor; on failure the caller still does.
 *
 * The socket does not read in its constructor (socketOnFd: `manualStart`):
 * nothing may be read from the kernel before our ACCEPT is in the channel
 * (PROTOCOL.md §7) and before the bytes the sender already read are in the
 * stream's buffer (putBack).
 */
export function rebuildSocket (fd: number, options: RebuildOptions = {}): net.Socket {
  const socketOptions = {
    allowHalfOpen: options.allowHalfOpen ?? false,
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark })
  }
  try {
    // One getsockopt says TCP, and the socket is built on a TCP handle
    // directly (tcpSocketOnFd). Anything else is described, and refused,
    // here; a stream socket of a kind isTcpSocket does not know (but
    // checkDescriptor accepts) goes the public way, Node's guess included.
    if (binding.isTcpSocket(fd)) return tcpSocketOnFd(fd, socketOptions)
    checkDescriptor(fd)
    return socketOnFd(fd, socketOptions)
  } catch (err) {
    if (isRejection(err)) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw rejection(code === 'ERR_INVALID_FD_TYPE' ? 'bad-descriptor' : 'internal',
      `the descriptor cannot be wrapped in a net.Socket: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Puts the bytes the sender had already read (request head, then whatever
 * followed) at the front of the socket's stream. Nothing has been read from
 * the descriptor yet (manualStart), so they come first; reading starts
 * afterwards (on the next tick, or when a consumer attaches) and everything
 * it reads lands behind them. An HTTP server that then takes the socket
 * over (its parser consumes the handle directly) still gets these bytes
 * first: it reads the stream's buffer when it resumes the socket, a tick
 * before the kernel can deliver anything to it.
 */
export function putBack (socket: net.Socket, prefix: Buffer): void {
  if (prefix.length > 0) socket.unshift(prefix)
}

/**
 * A connection the client already reset has no peer address any more
 * (getpeername: ENOTCONN). One that only half-closed still has one: it is
 * served, and the server sees the EOF as it would locally.
 */
export function isClientGone (socket: net.Socket): boolean {
  return socket.remoteAddress === undefined
}
