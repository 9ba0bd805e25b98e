// Taking a client connection out of Node without losing a byte, and either
// letting it go (the receiver took it) or giving it back (it did not).
//
// The rules, from docs/FIELD-NOTES and Node's lib/_http_server.js + lib/net.js:
//  - drain what Node holds (the upgrade `head`, the stream's readableBuffer)
//    and only then stop the handle reading, in the same tick (socket.read()
//    re-arms reading, so stopping first loses what arrives in between);
//  - a plain request's socket is read by the HTTP parser in C++: after the
//    handle stops, the parser must hold nothing past the request, or the
//    handoff is refused (those bytes cannot be recovered);
//  - once the receiver owns the connection, leave the server's bookkeeping
//    the way Node's upgrade path does (listeners, parser, timeouts) and close
//    our copy with the handle's own close: never end(), never a reset, never
//    a linger change.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import { binding, describeFd, isTcpStream } from '../native.js'
import {
  ERR_HANDOFF_HTTP2, ERR_HANDOFF_NOT_TCP, ERR_HANDOFF_PIPELINED, ERR_HANDOFF_REQUEST_BODY,
  ERR_HANDOFF_RESPONSE_STARTED, ERR_HANDOFF_SOCKET_GONE, ERR_HANDOFF_TLS
} from '../errors.js'
import { hasHandle, leaveHttpServer, parserState, ReadHold, responseOf, socketFd } from '../internals.js'
import type { HandoffKind } from '../protocol/index.js'
import { EMPTY_BUFFER } from '../empty.js'

/** Address fields for the HANDOFF meta (what the sender saw). */
export interface ConnectionAddress {
  remoteAddress?: string
  remotePort?: number
  localAddress?: string
  localPort?: number
  family?: 'IPv4' | 'IPv6'
}

export interface Detached {
  readonly kind: HandoffKind
  readonly socket: net.Socket
  /** The client's descriptor, still owned by this process until release(). */
  readonly fd: number
  /** The request head, reconstructed from what Node parsed (raw header names, in the client's order). */
  readonly head: Buffer
  /** Bytes Node had read past the head: the upgrade `head` and whatever sat in the stream's buffer. */
  readonly buffered: Buffer
  readonly keepAlive: boolean
  readonly address: ConnectionAddress
  /** True once release() or restore() ran. */
  readonly settled: boolean
  /**
   * The receiver owns the connection: leave the server's bookkeeping and
   * close this process's copy with the handle's own close.
   */
  release (): void
  /**
   * The handoff did not happen: the socket reads again, with what was drained
   * back in front of its stream (the upgrade `head` stays with the caller).
   */
  restore (): void
}

/** Throws the typed refusal for a connection that can never be handed off. */
export function checkHandoffable (req: IncomingMessage, socket: net.Socket | null | undefined): net.Socket {
  if (req.httpVersionMajor === 2 || (req as { stream?: unknown }).stream !== undefined) throw new ERR_HANDOFF_HTTP2()
  if (socket === null || socket === undefined) throw new ERR_HANDOFF_SOCKET_GONE()
  if ((socket as { encrypted?: boolean }).encrypted === true ||
    (socket as { getPeerCertificate?: unknown }).getPeerCertificate !== undefined) {
    throw new ERR_HANDOFF_TLS()
  }
  const fd = socketFd(socket)
  if (socket.destroyed || fd === null) throw new ERR_HANDOFF_SOCKET_GONE()
  if (fd < 0) throw new ERR_HANDOFF_NOT_TCP('a connection without a descriptor')
  // A connected TCP socket has a peer address (Node asks getpeername once
  // and keeps it; the HANDOFF metadata needs it anyway). Without one it is a
  // Unix socket, or the client is gone: only then ask the kernel which.
  const family = socket.remoteFamily
  if (family !== 'IPv4' && family !== 'IPv6') {
    let info
    try {
      info = binding.fdInfo(fd)
    } catch (err) {
      throw new ERR_HANDOFF_SOCKET_GONE({ cause: err })
    }
    if (!isTcpStream(info)) throw new ERR_HANDOFF_NOT_TCP(describeFd(info))
    throw new ERR_HANDOFF_SOCKET_GONE()
  }
  if (socket.readableEncoding !== null) {
    throw new ERR_HANDOFF_NOT_TCP('a socket with a string encoding set (its buffered bytes are no longer bytes)')
  }
  return socket
}

/**
 * The request line and header lines as the client sent them, up to the empty
 * line. Node keeps the raw header names and their order (rawHeaders) but not
 * the raw bytes; values are latin1 strings of the original bytes.
 */
export function requestHead (req: IncomingMessage, url: string = req.url ?? '/'): Buffer {
  let head = `${req.method ?? 'GET'} ${url} HTTP/${req.httpVersion}\r\n`
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`
  return Buffer.from(head + '\r\n', 'latin1')
}

function addressOf (socket: net.Socket): ConnectionAddress {
  const out: ConnectionAddress = {}
  if (socket.remoteAddress !== undefined) out.remoteAddress = socket.remoteAddress
  if (socket.remotePort !== undefined) out.remotePort = socket.remotePort
  if (socket.localAddress !== undefined) out.localAddress = socket.localAddress
  if (socket.localPort !== undefined) out.localPort = socket.localPort
  if (socket.remoteFamily === 'IPv4' || socket.remoteFamily === 'IPv6') out.family = socket.remoteFamily
  return out
}

function hasBody (req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding']
  if (te !== undefined && te !== '') return true
  const length = req.headers['content-length']
  return length !== undefined && length !== '' && Number(length) !== 0
}

/** Whether a connection may carry further requests after this one. */
function persistent (req: IncomingMessage, res?: ServerResponse): boolean {
  const keepAlive = (res as { shouldKeepAlive?: unknown } | undefined)?.shouldKeepAlive
  if (typeof keepAlive === 'boolean') return keepAlive
  const connection = String(req.headers.connection ?? '').toLowerCase()
  if (req.httpVersion === '1.0') return /\bkeep-alive\b/.test(connection)
  return !/\bclose\b/.test(connection)
}

/** Everything Node's stream holds, in order, without starting a read. */
export function drainReadable (socket: net.Socket): Buffer[] {
  const chunks: Buffer[] = []
  for (;;) {
    const chunk = socket.read() as Buffer | null
    if (chunk === null) break
    chunks.push(chunk)
  }
  return chunks
}

class DetachedConnection implements Detached {
  readonly kind: HandoffKind
  readonly socket: net.Socket
  readonly fd: number
  readonly head: Buffer
  readonly buffered: Buffer
  readonly keepAlive: boolean
  readonly address: ConnectionAddress
  private state: 'detached' | 'released' | 'restored' = 'detached'
  private readonly drained: Buffer[]
  private readonly hold: ReadHold
  private readonly req: IncomingMessage

  constructor (init: {
    kind: HandoffKind,
    socket: net.Socket,
    fd: number,
    head: Buffer,
    upgradeHead: Buffer,
    drained: Buffer[],
    keepAlive: boolean,
    hold: ReadHold,
    req: IncomingMessage
  }) {
    this.kind = init.kind
    this.socket = init.socket
    this.fd = init.fd
    this.head = init.head
    this.drained = init.drained
    this.buffered = init.upgradeHead.length === 0 && init.drained.length === 0
      ? EMPTY_BUFFER // the common case: nothing read past the head
      : Buffer.concat([init.upgradeHead, ...init.drained])
    this.keepAlive = init.keepAlive
    this.address = addressOf(init.socket)
    this.hold = init.hold
    this.req = init.req
  }

  get settled (): boolean { return this.state !== 'detached' }

  release (): void {
    if (this.state !== 'detached') return
    this.state = 'released'
    const { socket, req } = this
    // Leave the HTTP server's bookkeeping as its own upgrade path does:
    // its listeners, the parser (which also takes the connection out of the
    // server's connections list), the timeouts.
    leaveHttpServer(socket, req)
    socket.setTimeout(0)
    // The handle's own close: libuv takes the descriptor out of epoll, then
    // close(2). The receiver holds another reference to the socket, so no FIN
    // and no RST leave this host. destroy() is that close (it never ends the
    // writable side); 'close' tells the app (and a ServerResponse still
    // attached) that this process is done with the connection, and
    // net.Server's connection count drops.
    socket.destroy()
  }

  restore (): void {
    if (this.state !== 'detached') return
    this.state = 'restored'
    // Put back, in front, what we took out of the stream's buffer, then read again.
    for (let i = this.drained.length - 1; i >= 0; i--) this.socket.unshift(this.drained[i])
    this.hold.undo()
  }
}

/**
 * Detaches the socket of an HTTP upgrade request ('upgrade' event: Node has
 * already taken it from the HTTP parser). Synchronous: drains `head` and the
 * stream's buffer, then stops the handle reading, in one tick.
 */
export function detachUpgrade (req: IncomingMessage, socket: net.Socket, upgradeHead: Buffer,
  options: { url?: string } = {}): Detached {
  checkHandoffable(req, socket)
  const fd = socketFd(socket) as number
  const drained = drainReadable(socket)
  const hold = new ReadHold(socket)
  return new DetachedConnection({
    kind: 'upgrade',
    socket,
    fd,
    head: requestHead(req, options.url),
    upgradeHead: upgradeHead ?? EMPTY_BUFFER, // copied with the drained bytes into `buffered`
    drained,
    keepAlive: false,
    hold,
    req
  })
}

/**
 * A request pipelined behind one whose response is still being written (in
 * the same packet, say): HTTP/1.1 answers in order, so Node queues this
 * response and gives it the socket ('socket' event) once the earlier one has
 * finished. Resolves true then, false if the connection closed first. No
 * bound of its own: it waits as long as Node's own pipelining would, and the
 * handle is stopped meanwhile, so nothing new reaches the parser.
 */
function turnOf (res: ServerResponse, socket: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (mine: boolean): void => {
      res.removeListener('socket', onSocket)
      socket.removeListener('close', onClose)
      resolve(mine)
    }
    const onSocket = (): void => done(responseOf(socket) === res)
    const onClose = (): void => done(false)
    res.once('socket', onSocket)
    socket.once('close', onClose)
  })
}

/**
 * Detaches the connection of an ordinary request whose response has not
 * started (SSE, streaming, long polling). The connection is handed off whole:
 * the receiver writes this response and serves every later request on it.
 *
 * Node's HTTP parser reads such a socket in C++, so this stops the handle at
 * once, waits for the responses pipelined before this one to be written
 * (turnOf), lets any parse in progress finish (the caller may be inside it),
 * and then checks that the parser holds nothing past this request. Refused
 * (ERR_HANDOFF_PIPELINED) if it does: those bytes cannot be recovered.
 */
export async function detachRequest (req: IncomingMessage, res: ServerResponse,
  options: { url?: string } = {}): Promise<Detached> {
  const socket = checkHandoffable(req, req.socket)
  if (res.headersSent || res.writableEnded) throw new ERR_HANDOFF_RESPONSE_STARTED()
  if (hasBody(req)) throw new ERR_HANDOFF_REQUEST_BODY()
  const fd = socketFd(socket) as number
  // Stop now: from here nothing new reaches the parser or the stream.
  const hold = new ReadHold(socket)
  if (responseOf(socket) !== res && !await turnOf(res, socket)) {
    hold.lift()
    throw new ERR_HANDOFF_SOCKET_GONE()
  }
  // The caller may be running inside the parser's execute() (a synchronous
  // handler): let it finish with the bytes it already has before judging.
  await new Promise<void>((resolve) => setImmediate(resolve))
  const refuse = (why: string): never => {
    hold.undo()
    throw new ERR_HANDOFF_PIPELINED(why)
  }
  if (socket.destroyed || !hasHandle(socket)) {
    hold.lift()
    throw new ERR_HANDOFF_SOCKET_GONE()
  }
  if (res.headersSent || res.writableEnded) {
    // The app answered meanwhile: its response goes on, on a socket that reads again.
    hold.undo()
    throw new ERR_HANDOFF_RESPONSE_STARTED()
  }
  const parser = parserState(socket)
  if (parser !== null) {
    if (parser.incoming !== req) refuse('the client pipelined another request after this one; the HTTP parser has already read it')
    if (parser.midMessage) refuse('the HTTP parser has already read the beginning of another request')
  }
  if (!req.complete) refuse('the request is not complete yet')
  // A parser that does not consume the handle leaves unparsed bytes in the
  // stream's buffer: they follow this request. (read() marks the handle as
  // reading even though the guard kept it stopped: put the flag back.)
  const drained = drainReadable(socket)
  hold.stopped()
  return new DetachedConnection({
    kind: 'request',
    socket,
    fd,
    head: requestHead(req, options.url),
    upgradeHead: EMPTY_BUFFER,
    drained,
    keepAlive: persistent(req, res),
    hold,
    req
  })
}
