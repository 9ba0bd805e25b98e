// Every access to a private internal of Node (node:net, node:http), Fastify,
// ws or @fastify/websocket lives in this file and nowhere else, so that the
// rest of the code reads as the flow it is (detach, deliver, replay) and so
// that a Node release that changes one of them fails in one place, clearly.
//
// Supported Node range: 20, 22 and 24. Every name below was checked against
// Node 20.20 (the version CI runs) and against Node's main branch (nodejs/node
// 0012a775: lib/_http_server.js, lib/_http_common.js, lib/net.js), which is
// newer than 24; 22 and 24 lie between the two and have the same names.
//
// How the checks work:
//  - internal(name, find) registers one internal and checks it when this
//    module loads, where that can be done without a live connection (a
//    module's exports, a prototype's members, a property a constructor sets
//    on a bare object, an option a constructor reads). A missing one throws
//    ERR_HANDOFF_NODE_INTERNAL naming it and the running Node version: the
//    package fails at require() time, not in the middle of a handoff.
//  - What exists only on a live object (a connection's handle, its HTTP
//    parser, the server's listeners on it) is checked at use by live(name,
//    ok), with the same error.
//
// Adding a section (takeover, ws migration, …): a `// ── <area> ──` header,
// its internal(...) / live(...) checks, then small typed functions. Load
// Node's private modules only through nodeRequire, never with import.
import { createRequire } from 'node:module'
import { IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import net from 'node:net'
import util from 'node:util'
import { ERR_HANDOFF_NODE_INTERNAL } from './errors.js'
import { EMPTY_BUFFER } from './empty.js'

/** The one way this file loads Node's private modules (`_http_common`, `_http_server`). */
const nodeRequire = createRequire(__filename)

const checkedAtLoad: string[] = []

/** The names of the internals checked when this module loaded, in order. */
export const internalsChecked: readonly string[] = checkedAtLoad

/** The error for an internal this Node does not have: its name and the Node version. */
export function internalMissing (name: string, cause?: unknown): Error {
  const err = new ERR_HANDOFF_NODE_INTERNAL(name, process.version)
  if (cause !== undefined) err.cause = cause
  return err
}

/**
 * Registers and checks one internal now (at load). `find` returns it (or
 * true for a check without a value); undefined, null, false or a throw mean
 * this Node does not have it.
 */
function internal<T> (name: string, find: () => T | undefined | null | false): T {
  let found: T | undefined | null | false
  try {
    found = find()
  } catch (err) {
    throw internalMissing(name, err)
  }
  if (found === undefined || found === null || found === false) throw internalMissing(name)
  checkedAtLoad.push(name)
  return found
}

/** Checks an internal that exists only on a live object, at its use. */
function live (name: string, ok: boolean): void {
  if (!ok) throw internalMissing(name)
}

type Listener = (...args: unknown[]) => void

function listenerNamed (emitter: net.Socket, event: string, name: string): Listener | undefined {
  return (emitter.listeners(event) as Listener[]).find((listener) => listener.name === name)
}

// Bare objects to look at what Node's constructors set: never connected,
// never listening, dropped once this module has loaded.
const bareSocket = new net.Socket()
const bareServer = new net.Server()

// ── node:net: a connection's handle ──

/** The parts of libuv's stream handle (TCPWrap) that detaching needs; lib/net.js uses the same. */
interface StreamHandle {
  fd: number
  reading: boolean
  readStart (): number
  readStop (): number
}

interface SocketInternals {
  _handle: StreamHandle | null | undefined
  _httpMessage?: ServerResponse | null
  parser?: ServerParser | null
  server: net.Server | null
  _server: net.Server | null
}

internal('net.Socket#_handle', () => '_handle' in bareSocket)

function internalsOf (socket: net.Socket): SocketInternals {
  return socket as unknown as SocketInternals
}

/** The socket's libuv handle, checked to be a stream handle; null once it is closed. */
function handleOf (socket: net.Socket): StreamHandle | null {
  const handle = internalsOf(socket)._handle
  if (handle === null || handle === undefined) return null
  live('net.Socket#_handle.readStart / readStop (a libuv stream handle)',
    typeof handle.readStart === 'function' && typeof handle.readStop === 'function')
  return handle
}

/** Whether the socket still has its libuv handle (false once destroyed or closed). */
export function hasHandle (socket: net.Socket): boolean {
  return handleOf(socket) !== null
}

/** The socket's descriptor: null without a handle, -1 for a handle without one (not a kernel socket). */
export function socketFd (socket: net.Socket): number | null {
  const handle = handleOf(socket)
  if (handle === null) return null
  const fd = (handle as { fd?: unknown }).fd
  return typeof fd === 'number' && fd >= 0 ? fd : -1
}

/**
 * The hold a detach puts on a socket: its handle stopped, with a guard so
 * that nothing starts it again while the handoff is in flight
 * (socket.read(), resume(), a late 'data' listener all end in
 * handle.readStart()), and its idle timeout off. undo() gives the socket
 * back as it was.
 */
export class ReadHold {
  readonly wasReading: boolean
  private readonly socket: net.Socket
  private readonly handle: StreamHandle
  private readonly timeout: number | undefined

  /** `socket` must have its handle (hasHandle). */
  constructor (socket: net.Socket) {
    const handle = handleOf(socket)
    if (handle === null) throw new TypeError('ReadHold: the socket has no handle')
    this.socket = socket
    this.handle = handle
    this.timeout = (socket as { timeout?: number }).timeout
    this.wasReading = handle.reading
    handle.reading = false
    handle.readStop()
    // An own property shadows the prototype's method until lifted.
    Object.defineProperty(handle, 'readStart', { value: () => 0, configurable: true, writable: true })
    socket.setTimeout(0)
  }

  /** Lets readStart through again; the handle stays stopped. */
  lift (): void {
    delete (this.handle as unknown as Record<string, unknown>).readStart
  }

  /**
   * socket.read() marks the handle as reading even though the guard kept it
   * stopped: says it is not, after a drain.
   */
  stopped (): void {
    this.handle.reading = false
  }

  /**
   * The guard lifted, the timeout back, and the handle reading again if it
   * was. Not judged by `handle.reading`: Node's own read paths set that flag
   * while the guard kept their readStart() from running.
   */
  undo (): void {
    this.lift()
    const { socket, handle } = this
    if (this.timeout !== undefined && this.timeout > 0) socket.setTimeout(this.timeout)
    if (this.wasReading && internalsOf(socket)._handle === handle && !socket.destroyed) {
      handle.reading = true
      handle.readStart()
    }
  }
}

// ── node:net: the constructor and the accept path ──

// new net.Socket({ fd, manualStart: true }) wraps a descriptor without the
// read(0) the constructor does otherwise (lib/net.js): nothing may be read
// from the kernel before the receiver's ACCEPT is in the channel.
internal('the net.Socket option manualStart', () => Function.prototype.toString.call(net.Socket).includes('manualStart'))

export interface SocketOnFdOptions {
  allowHalfOpen: boolean
  highWaterMark?: number
}

/** A net.Socket on `fd` that has not read anything yet (ERR_INVALID_FD_TYPE for a descriptor Node cannot wrap). */
export function socketOnFd (fd: number, options: SocketOnFdOptions): net.Socket {
  return new net.Socket({ fd, ...unreadSocketOptions(options) } as net.SocketConstructorOpts)
}

/** The constructor options of a socket that reads nothing until it flows (manualStart). */
function unreadSocketOptions (options: SocketOnFdOptions): Record<string, unknown> {
  return {
    readable: true,
    writable: true,
    allowHalfOpen: options.allowHalfOpen,
    manualStart: true,
    ...(options.highWaterMark === undefined
      ? {}
      : { readableHighWaterMark: options.highWaterMark, writableHighWaterMark: options.highWaterMark })
  }
}

// ── setupperf: a received TCP descriptor wrapped without Node's guess ──

// new net.Socket({ fd }) first asks libuv what the descriptor is
// (uv_guess_handle: fstat, getsockopt SO_TYPE, getsockname) to choose a TCP
// or a Pipe handle. A receiver knows it wants TCP and checks that itself in
// one getsockopt (binding.isTcpSocket), so it opens libuv's TCP handle on
// the descriptor and gives it to net.Socket({ handle }), the way
// child_process wraps a handle it received (issue 17: 3-4 µs less per
// handoff, measured in BENCHMARKS.md). Node exports no constructor for that
// handle: it is taken from the first TCP socket wrapped the public way (one
// handoff per process), checked there; until then, and on any Node where
// the check fails, the public way is used.
internal('the net.Socket option handle', () => Function.prototype.toString.call(net.Socket).includes('options.handle'))

interface TcpHandle extends StreamHandle {
  open (fd: number): number
  close (): void
}
type TcpConstructor = new (type: number) => TcpHandle
/** TCPWrap's type for a connection, not a listener (src/tcp_wrap.h: SOCKET = 0, SERVER = 1). */
const TCP_SOCKET = 0
/** null: not learnt yet; false: this Node's handle is not the expected one (public way only). */
let tcpHandle: TcpConstructor | null | false = null

function learnTcpHandle (socket: net.Socket): void {
  const handle = internalsOf(socket)._handle as Partial<TcpHandle> | null | undefined
  const ctor = handle?.constructor as (TcpConstructor & { name?: string }) | undefined
  tcpHandle = ctor !== undefined && ctor.name === 'TCP' && typeof handle?.open === 'function' &&
    typeof handle.readStart === 'function'
    ? ctor
    : false
}

/**
 * What socketOnFd returns, for a descriptor the caller has checked is a TCP
 * socket (binding.isTcpSocket): on a TCP handle opened on it directly. On
 * failure nothing owns `fd` but the caller.
 */
export function tcpSocketOnFd (fd: number, options: SocketOnFdOptions): net.Socket {
  const Tcp = tcpHandle
  if (Tcp === null || Tcp === false) {
    const socket = socketOnFd(fd, options)
    if (Tcp === null) learnTcpHandle(socket)
    return socket
  }
  const handle = new Tcp(TCP_SOCKET)
  const err = handle.open(fd)
  if (err !== 0) {
    handle.close()
    const code = util.getSystemErrorName(err)
    throw Object.assign(new Error(`open ${code}`), { code, errno: err, syscall: 'open' })
  }
  return new net.Socket({ handle, ...unreadSocketOptions(options) } as net.SocketConstructorOpts)
}

/** The private bits of net.Server that its own accept path (onconnection in lib/net.js) maintains. */
interface ServerInternals {
  _connections: number
  noDelay?: boolean
  keepAlive?: boolean
  keepAliveInitialDelay?: number
  highWaterMark?: number
  allowHalfOpen?: boolean
}

internal('net.Server#_connections', () => typeof (bareServer as unknown as ServerInternals)._connections === 'number')
internal('net.Server#noDelay, #keepAlive, #keepAliveInitialDelay, #allowHalfOpen', () =>
  ['noDelay', 'keepAlive', 'keepAliveInitialDelay', 'allowHalfOpen'].every((key) => key in bareServer))
internal('net.Socket#_server', () => '_server' in bareSocket)

/** What the server's own accept path applies to each connection it accepts. */
export interface AcceptOptions {
  noDelay: boolean
  keepAlive: boolean
  /** ms (net.Server keeps seconds; setKeepAlive takes ms). */
  keepAliveInitialDelay: number
  allowHalfOpen: boolean
  /** Absent where the server has none of its own. */
  highWaterMark?: number
}

export function acceptOptionsOf (server: net.Server): AcceptOptions {
  const s = server as unknown as ServerInternals
  return {
    noDelay: s.noDelay === true,
    keepAlive: s.keepAlive === true,
    keepAliveInitialDelay: (s.keepAliveInitialDelay ?? 0) * 1000,
    allowHalfOpen: s.allowHalfOpen === true,
    ...(typeof s.highWaterMark === 'number' ? { highWaterMark: s.highWaterMark } : {})
  }
}

/** The connections the server counts now (what getConnections() reports). */
export function connectionCount (server: net.Server): number {
  return (server as unknown as ServerInternals)._connections
}

/**
 * Counts `socket` as one of the server's connections, as its accept path
 * does: `server.close()` waits for it, getConnections() counts it, and the
 * socket takes itself off the count when it is destroyed.
 */
export function countConnection (server: net.Server, socket: net.Socket): void {
  (server as unknown as ServerInternals)._connections++
  const s = internalsOf(socket)
  s.server = server
  s._server = server
}

// ── node:http: the server's connections list ──

// node:http checks headersTimeout and requestTimeout on a list of
// connections it creates when the server starts listening
// (setupConnectionsTracking, on 'listening'). A sibling's server need not
// listen anywhere (every connection may come by handoff): then that list is
// created the way 'listening' would, or those timeouts never fire and
// closeIdleConnections() finds nothing to close.
const httpServerModule = internal("require('_http_server')", () =>
  nodeRequire('_http_server') as { setupConnectionsTracking?: unknown })
const setupConnectionsTracking = internal('_http_server.setupConnectionsTracking', () =>
  typeof httpServerModule.setupConnectionsTracking === 'function' &&
  httpServerModule.setupConnectionsTracking as (this: HttpServer) => void)

/** Servers known to have their connections list (it is never removed). */
const tracking = new WeakSet<HttpServer>()

/** Makes sure the server has its connections list, whether or not it listens. */
export function trackConnections (server: HttpServer): void {
  if (tracking.has(server)) return
  tracking.add(server)
  if (server.listening) return
  const tracked = Object.getOwnPropertySymbols(server)
    .some((symbol) => symbol.description === 'http.server.connections' &&
      (server as unknown as Record<symbol, unknown>)[symbol] !== undefined)
  if (!tracked) setupConnectionsTracking.call(server)
}

// ── node:http: a connection's HTTP parser and listeners ──

/** The HTTP parser node:http attaches to a server socket (lib/_http_common.js, node_http_parser.cc). */
interface ServerParser {
  incoming: IncomingMessage | null
  _consumed?: boolean
  onIncoming: OnIncoming | null
  unconsume (): void
  /** ms since the current message began; 0 when no message is in progress. */
  duration (): number
}

/** node:http's parserOnIncoming: returns how to treat the body (1: skip it). */
export type OnIncoming = (this: unknown, req: IncomingMessage, keepAlive: boolean) => unknown

const httpCommon = internal("require('_http_common')", () =>
  nodeRequire('_http_common') as { freeParser?: unknown, HTTPParser?: { prototype?: Record<string, unknown> } })
const freeParser = internal('_http_common.freeParser', () => typeof httpCommon.freeParser === 'function' &&
  httpCommon.freeParser as (parser: ServerParser, req: IncomingMessage | null, socket: net.Socket) => void)
const parserPrototype = internal('_http_common.HTTPParser', () => httpCommon.HTTPParser?.prototype)
internal('HTTPParser.prototype.unconsume', () => typeof parserPrototype.unconsume === 'function')
internal('HTTPParser.prototype.duration', () => typeof parserPrototype.duration === 'function')

// The listeners node:http's connectionListenerInternal puts on a connection,
// by function name (they are bound functions, private to lib/_http_server.js).
const ON_DATA = 'bound socketOnData'
const SERVER_LISTENERS: ReadonlyArray<[string, string]> = [
  ['data', ON_DATA],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
  ['timeout', 'socketOnTimeout'],
  ['resume', 'onSocketResume'],
  ['pause', 'onSocketPause']
]

/**
 * The parser node:http attached to `socket`, or null (none: an upgraded
 * connection, or one node:http has let go of).
 */
function parserOf (socket: net.Socket): ServerParser | null {
  const parser = internalsOf(socket).parser
  if (parser === null || parser === undefined) return null
  live('net.Socket#parser.incoming and .onIncoming (node:http\'s parser)', 'incoming' in parser && 'onIncoming' in parser)
  return parser
}

/**
 * node:http's 'data' listener on a connection it parses (until a handoff
 * takes it): without it, this Node's node:http is not the one this file knows.
 */
function serverOnData (socket: net.Socket): (chunk: Buffer) => void {
  const onData = listenerNamed(socket, 'data', ON_DATA)
  live(`node:http's '${ON_DATA}' listener on a connection it parses`, onData !== undefined)
  return onData as (chunk: Buffer) => void
}

/** What node:http's parser holds on this connection: null when it has none. */
export interface ParserState {
  /** The request it parsed last and still owns. */
  readonly incoming: IncomingMessage | null
  /** It has begun the next message (its bytes cannot be recovered). */
  readonly midMessage: boolean
}

export function parserState (socket: net.Socket): ParserState | null {
  const parser = parserOf(socket)
  if (parser === null) return null
  serverOnData(socket)
  return { incoming: parser.incoming, midMessage: parser.duration() !== 0 }
}

/** The ServerResponse the socket is writing now (node:http answers pipelined requests in turn). */
export function responseOf (socket: net.Socket): ServerResponse | null {
  return internalsOf(socket)._httpMessage ?? null
}

/**
 * Takes the connection out of node:http's bookkeeping the way its own
 * upgrade path does: its listeners, its parser (unconsume and free, which
 * also takes the connection off the server's connections list).
 */
export function leaveHttpServer (socket: net.Socket, req: IncomingMessage): void {
  for (const [event, name] of SERVER_LISTENERS) {
    for (const listener of socket.listeners(event) as Listener[]) {
      if (listener.name === name) socket.removeListener(event, listener)
    }
  }
  const parser = internalsOf(socket).parser
  if (parser !== null && parser !== undefined) freeParser(parser, req, socket)
}

/**
 * Right after node:http took the socket: takes its parser off the handle
 * (node:http reads a connection in C++; unconsume, as node:http itself does
 * when an app adds a 'data' listener), and removes and returns the server's
 * 'data' listener, for the caller to feed what the parser should see. Null,
 * changing nothing, when node:http has no parser on the socket.
 */
export function takeServerData (socket: net.Socket): ((chunk: Buffer) => void) | null {
  const parser = parserOf(socket)
  if (parser === null) return null
  const onData = serverOnData(socket)
  if (parser._consumed === true) {
    parser.unconsume()
    parser._consumed = false
    // Only meaningful while the parser reads the handle itself.
    for (const [event, name] of [['pause', 'onSocketPause'], ['resume', 'onSocketResume']]) {
      const listener = listenerNamed(socket, event, name)
      if (listener !== undefined) socket.removeListener(event, listener)
    }
  }
  socket.removeListener('data', onData)
  return onData
}

/**
 * Puts `wrap` in front of node:http's parserOnIncoming on this connection:
 * every request it parses, plain or upgrade, goes through `wrap` first
 * (which calls `next` to go on). node:http resets onIncoming when it frees
 * the parser, so the wrap never follows a pooled parser to another
 * connection. False, changing nothing, when node:http has no parser on it.
 */
export function wrapIncoming (socket: net.Socket,
  wrap: (next: OnIncoming) => OnIncoming): boolean {
  const parser = parserOf(socket)
  if (parser === null) return false
  const onIncoming = parser.onIncoming
  live('net.Socket#parser.onIncoming (node:http\'s parserOnIncoming)', typeof onIncoming === 'function')
  parser.onIncoming = wrap(onIncoming as OnIncoming)
  return true
}

// ── @fastify/websocket ──

// @fastify/websocket routes every upgrade into Fastify and keeps the raw
// socket and head on the raw request under its own symbols,
// Symbol('ws-socket') and Symbol('ws-head') (index.js, 11.x); a handoff route
// takes the connection from there. Checked at use: the package is optional.
const WS_SOCKET = 'ws-socket'
const WS_HEAD = 'ws-head'

// node:http marks a request it emits as 'upgrade' (IncomingMessage#upgrade,
// set by its parser; false when it is served as a plain request).
internal('http.IncomingMessage#upgrade', () => 'upgrade' in new IncomingMessage(bareSocket))

function cameAsUpgrade (raw: IncomingMessage): boolean {
  return (raw as { upgrade?: unknown }).upgrade === true
}

/**
 * The raw socket and head @fastify/websocket keeps on an upgrade request it
 * routed, or null. `registered`: the app has @fastify/websocket, which is
 * then the server's 'upgrade' listener: on a request node:http emitted as
 * 'upgrade' they must be there.
 */
export function websocketUpgradeOf (raw: IncomingMessage, registered: boolean): { socket: net.Socket, head: Buffer } | null {
  let socket: unknown
  let head: unknown
  for (const symbol of Object.getOwnPropertySymbols(raw)) {
    if (symbol.description === WS_SOCKET) socket = (raw as unknown as Record<symbol, unknown>)[symbol]
    else if (symbol.description === WS_HEAD) head = (raw as unknown as Record<symbol, unknown>)[symbol]
  }
  if (socket === undefined || socket === null) {
    live(`@fastify/websocket's Symbol('${WS_SOCKET}') on an upgrade request it routed`, !registered || !cameAsUpgrade(raw))
    return null
  }
  return { socket: socket as net.Socket, head: Buffer.isBuffer(head) ? head : EMPTY_BUFFER }
}

// ── takeover ──
internal('net.Server#_handle', () => '_handle' in bareServer)

// A listening net.Server's descriptor, to pass to a successor: libuv keeps
// it in the handle (`_handle.fd`, a TCP or Pipe wrap), and Node has no public
// way to read it. -1 when the server does not listen (or on a platform
// without descriptors).
export function listeningFd (server: net.Server): number {
  const handle = (server as unknown as { _handle?: { fd?: unknown } | null })._handle
  const fd = handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : -1
}

// Checked at load on a bare server: address() of a server without a handle
// answers its `_pipeName` (lib/net.js Server.prototype.address).
internal('net.Server#_pipeName (read by address())', () => {
  const probe = new net.Server() as unknown as { _pipeName?: string, address (): unknown }
  probe._pipeName = '/probe'
  return probe.address() === '/probe'
})

/**
 * Names a server that listens on an inherited Unix socket descriptor. Node
 * knows a pipe server's path only when it bound it itself (`_pipeName`):
 * for one listening on a descriptor address() answers null, which
 * Fastify's listen() cannot log (it throws) and a takeover offer cannot
 * describe. Set before listen({ fd }); listen() leaves it as it is.
 */
export function nameUnixServer (server: net.Server, name: string): void {
  (server as unknown as { _pipeName?: string })._pipeName = name
}

/**
 * Stops accepting without touching the connections: net.Server's own
 * close(). http.Server.close() (Node ≥ 19) first closes every idle
 * keep-alive connection, which races a client that is sending its next
 * request on it (a reset, a failed request); after a takeover those
 * connections are left to finish (plugin/takeover/drain.ts). `done` runs
 * once the last connection has closed.
 */
export function stopAccepting (server: net.Server, done: () => void): void {
  net.Server.prototype.close.call(server, () => done())
}

// ── ws migration ──
// Live migration (plugin/migrate/) cuts an established `ws` WebSocket at a
// frame boundary and rebuilds it in another process. ws has no public API for
// either, so everything it needs from ws's private state is here, checked
// once against the installed ws (wsInternals(): its version range, then the
// shape of a bare Receiver, Sender, WebSocket and PerMessageDeflate) and, for
// what only a live connection has (ws's listeners on its socket), at use.
// ws is loaded through nodeRequire too (by absolute path for lib/: ws's
// exports map hides it), and only when a migration is created. Checked against ws
// 8.18.0 to 8.23.0: the receiver's states (GET_INFO 0 … INFLATING 5,
// DEFER_EVENT 6), the sender's (DEFAULT 0, DEFLATING 1, GET_BLOB_DATA 2),
// setSocket()'s socket listeners, PerMessageDeflate's params and decompress.
import path from 'node:path'
import type { EventEmitter } from 'node:events'
import { ERR_HANDOFF_WS_UNSUPPORTED } from './errors.js'

/** ws 8.x from this minor on: the sender's `_state` (GET_BLOB_DATA) and the receiver's DEFER_EVENT exist. */
export const WS_SUPPORTED = { major: 8, minMinor: 18 } as const

interface WsReceiver extends EventEmitter {
  _state: number
  _fragmented: number
  _fragments: Buffer[]
  _buffers: Buffer[]
  _bufferedBytes: number
  _opcode: number
  writableLength: number
}

interface WsSender {
  _state: number
  _queue: unknown[]
}

interface WsPerMessageDeflate {
  params: Record<string, unknown> | null
  _isServer: boolean
  decompress (data: Buffer, fin: boolean, cb: (err: Error | null, result?: Buffer) => void): void
  cleanup (): void
}

/** The private side of a `ws` WebSocket (lib/websocket.js). */
interface WsSocketInternals extends EventEmitter {
  _readyState: number
  _protocol: string
  _extensions: Record<string, WsPerMessageDeflate>
  _receiver: WsReceiver | null
  _sender: WsSender | null
  _socket: net.Socket | null
  _paused: boolean
  _closeFrameSent: boolean
  _closeFrameReceived: boolean
  _isServer: boolean
  setSocket (socket: net.Socket, head: Buffer, options: Record<string, unknown>): void
}

/** What the migration needs from one installed copy of ws. */
export interface WsInternals {
  version: string
  /** The WebSocket class (the app's `ws` export). */
  WebSocket: new (address: null, protocols: undefined, options: Record<string, unknown>) => EventEmitter
  PerMessageDeflate: new (options: Record<string, unknown>, isServer: boolean, maxPayload: number) => WsPerMessageDeflate
  extensionName: string
}

// The receiver's and sender's states (lib/receiver.js, lib/sender.js).
const GET_INFO = 0
const INFLATING = 5
const DEFER_EVENT = 6
const SENDER_DEFAULT = 0
const OPEN = 1
const CLOSED = 3
const CLOSE_OPCODE = 0x08

let loaded: WsInternals | undefined

function unsupported (why: string, cause?: unknown): Error {
  const err = new ERR_HANDOFF_WS_UNSUPPORTED(why)
  if (cause !== undefined) err.cause = cause
  return err
}

/**
 * The installed ws, checked: version range first, then the private members
 * this section reads, on bare objects (a Receiver, a Sender on a stub
 * socket, a WebSocket made as WebSocketServer makes one, a
 * PerMessageDeflate). Throws ERR_HANDOFF_WS_UNSUPPORTED naming what is
 * missing. `WebSocket` (the app's class, e.g. wss.options.WebSocket) must be
 * that same copy: two copies of ws would each keep their own private state.
 */
export function wsInternals (WebSocketOfApp?: unknown): WsInternals {
  if (loaded === undefined) loaded = loadWs()
  if (WebSocketOfApp !== undefined && WebSocketOfApp !== loaded.WebSocket &&
      !(typeof WebSocketOfApp === 'function' && WebSocketOfApp.prototype instanceof loaded.WebSocket)) {
    throw unsupported('the WebSocketServer uses another copy of ws than the one fastify-handoff resolves (dedupe ws)')
  }
  return loaded
}

function loadWs (): WsInternals {
  let pkgPath: string
  let version: string
  try {
    pkgPath = nodeRequire.resolve('ws/package.json')
    version = (nodeRequire(pkgPath) as { version: string }).version
  } catch (err) {
    throw unsupported('ws is not installed', err)
  }
  const [major, minor] = version.split('.').map(Number)
  if (major !== WS_SUPPORTED.major || !(minor >= WS_SUPPORTED.minMinor)) {
    throw unsupported(`ws ${version} is outside the supported range ${WS_SUPPORTED.major}.${WS_SUPPORTED.minMinor}.x to ${WS_SUPPORTED.major}.x`)
  }
  const lib = path.join(path.dirname(pkgPath), 'lib')
  const need = (ok: boolean, what: string): void => { if (!ok) throw unsupported(`ws ${version} has no ${what}`) }
  try {
    const ws = nodeRequire(path.dirname(pkgPath)) as {
      Receiver: new (o: object) => WsReceiver
      Sender: new (s: object) => WsSender
    } & WsInternals['WebSocket']
    // An absolute path: ws's exports map hides lib/, not the file itself.
    const PerMessageDeflate = nodeRequire(path.join(lib, 'permessage-deflate.js')) as WsInternals['PerMessageDeflate'] & { extensionName: string }
    const receiver = new ws.Receiver({ isServer: true })
    need(receiver._state === GET_INFO && Array.isArray(receiver._buffers) && receiver._fragmented === 0 &&
      Array.isArray(receiver._fragments) && receiver._bufferedBytes === 0, 'Receiver _state/_buffers/_fragmented/_fragments')
    const sender = new ws.Sender({})
    need(sender._state === SENDER_DEFAULT && Array.isArray(sender._queue), 'Sender _state/_queue')
    const WebSocket = ws
    const socket = new WebSocket(null, undefined, {}) as unknown as WsSocketInternals
    need(socket._readyState === 0 && typeof socket.setSocket === 'function' && socket._protocol === '' &&
      typeof socket._extensions === 'object' && socket._isServer && socket._paused === false,
    'WebSocket _readyState/_protocol/_extensions/_paused/setSocket')
    need(typeof PerMessageDeflate === 'function' && PerMessageDeflate.extensionName === 'permessage-deflate', 'PerMessageDeflate')
    // Both constructor shapes of 8.x: ({ isServer, maxPayload }) and (options, isServer, maxPayload).
    const pmd = new PerMessageDeflate({ isServer: true, maxPayload: 0 }, true, 0)
    need(pmd.params === null && typeof pmd.decompress === 'function' && typeof pmd.cleanup === 'function' && pmd._isServer,
      'PerMessageDeflate params/decompress/cleanup')
    return { version, WebSocket: ws, PerMessageDeflate, extensionName: PerMessageDeflate.extensionName }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_HANDOFF_WS_UNSUPPORTED') throw err
    throw unsupported(`ws ${version} could not be inspected`, err)
  }
}

function ws (socket: unknown): WsSocketInternals {
  return socket as WsSocketInternals
}

/** The listeners ws's setSocket() put on the net.Socket, by function name. */
const WS_SOCKET_LISTENERS: ReadonlyArray<[string, string]> = [
  ['close', 'socketOnClose'], ['data', 'socketOnData'], ['end', 'socketOnEnd'], ['error', 'socketOnError']
]

function wsListener (socket: net.Socket, event: string, name: string): ((...args: unknown[]) => void) | undefined {
  return (socket.listeners(event) as Array<(...args: unknown[]) => void>).find((l) => l.name === name)
}

/** The net.Socket under an open ws WebSocket, or null (closed, or not a server-side ws on a socket). */
export function wsSocket (socket: unknown): net.Socket | null {
  const s = ws(socket)
  return s._socket !== null && s._socket !== undefined && typeof s._socket.pause === 'function' ? s._socket : null
}

/**
 * Where a WebSocket stands for a cut, judged on what has been read so far:
 * - 'closing': not OPEN, or a close frame sent or received (a closing
 *   handshake stays with its process);
 * - 'inflating': the receiver waits for an asynchronous inflate or a
 *   deferred event, or still holds written chunks (it resumes by itself);
 * - 'mid-frame': a frame or a fragmented message is incomplete (more bytes
 *   must be read to reach a boundary);
 * - 'sending': the sender has frames queued or is compressing, or Node's
 *   write queue for the socket is not empty (bytes there cannot move);
 * - 'clean': at a frame boundary with nothing in flight either way.
 */
export type WsCutState = 'closing' | 'inflating' | 'mid-frame' | 'sending' | 'clean'

export function wsCutState (socket: unknown): WsCutState {
  const s = ws(socket)
  const r = s._receiver
  const net = s._socket
  if (s._readyState !== OPEN || s._closeFrameSent || s._closeFrameReceived || r === null || net === null ||
      s._sender === null || net.destroyed) return 'closing'
  if (r._opcode === CLOSE_OPCODE && r._state === GET_INFO) return 'closing'
  if (r._state === INFLATING || r._state === DEFER_EVENT || r.writableLength > 0) return 'inflating'
  if (r._state !== GET_INFO || r._fragmented !== 0 || r._fragments.length > 0) return 'mid-frame'
  if (s._sender._state !== SENDER_DEFAULT || s._sender._queue.length > 0 || net.writableLength > 0) return 'sending'
  return 'clean'
}

/** The bytes the receiver holds unparsed at a boundary (at most one byte of the next header). */
export function wsUnparsed (socket: unknown): Buffer {
  const r = ws(socket)._receiver
  return r === null || r._buffers.length === 0 ? EMPTY_BUFFER : Buffer.concat(r._buffers)
}

/** Whether the app paused the WebSocket (ws.pause()): its flow control would not survive a move. */
export function wsPaused (socket: unknown): boolean {
  return ws(socket)._paused
}

/**
 * Takes ws's 'data' listener off its socket (so that draining Node's stream
 * buffer feeds nobody) and returns the function that puts it back.
 */
export function wsUnplugData (socket: unknown): () => void {
  const net = ws(socket)._socket as net.Socket
  const listener = wsListener(net, 'data', 'socketOnData')
  if (listener === undefined) throw unsupported('its socket has no socketOnData listener (ws changed setSocket)')
  net.removeListener('data', listener)
  return () => { net.on('data', listener) }
}

/** The negotiated subprotocol and extension parameters. */
export function wsNegotiated (socket: unknown): { protocol: string, extensions: Record<string, Record<string, unknown>> } {
  const s = ws(socket)
  const extensions: Record<string, Record<string, unknown>> = {}
  for (const [name, ext] of Object.entries(s._extensions)) {
    if (ext.params !== null && typeof ext.params === 'object') extensions[name] = { ...ext.params }
  }
  return { protocol: s._protocol, extensions }
}

/**
 * Calls `onInflated` with every buffer the connection's inflater outputs,
 * in order, before the message reaches the app: the client's compression
 * window is the last 2^bits bytes of it. Returns false (nothing hooked) when
 * the connection has no permessage-deflate.
 */
export function wsTapInflated (socket: unknown, extensionName: string, onInflated: (data: Buffer) => void): boolean {
  const pmd = ws(socket)._extensions[extensionName]
  if (pmd === undefined) return false
  const decompress = pmd.decompress
  pmd.decompress = function (data, fin, cb) {
    decompress.call(this, data, fin, (err, result) => {
      if (err === null && result !== undefined) onInflated(result)
      cb(err, result)
    })
  }
  return true
}

/**
 * The WebSocket is gone from this process (it lives on in another): ws's
 * listeners off its socket, so that closing our copy of the descriptor
 * emits no 'close' (the app's "user left" must not run), the state CLOSED
 * (a late send() fails through its callback, writes nothing), the inflater
 * and deflater freed. The caller then closes the socket.
 */
export function wsRetire (socket: unknown): void {
  const s = ws(socket)
  const net = s._socket
  if (net !== null) {
    for (const [event, name] of WS_SOCKET_LISTENERS) {
      const listener = wsListener(net, event, name)
      if (listener !== undefined) net.removeListener(event, listener)
    }
  }
  s._receiver?.removeAllListeners()
  s._readyState = CLOSED
  for (const ext of Object.values(s._extensions)) ext.cleanup()
}

/**
 * A server-side WebSocket on an already upgraded connection, built the way
 * WebSocketServer's completeUpgrade() builds one, minus the 101: the
 * subprotocol and the extensions the old process negotiated, then
 * setSocket() with the server's options. `head` is the bytes to parse first.
 */
export function wsAdopt (w: WsInternals, serverOptions: Record<string, unknown>, socket: net.Socket, head: Buffer,
  negotiated: { protocol: string, extensions: Record<string, Record<string, unknown>> },
  inflateDictionary: Buffer | undefined): EventEmitter {
  const WebSocketClass = (serverOptions.WebSocket ?? w.WebSocket) as WsInternals['WebSocket']
  const created = ws(new WebSocketClass(null, undefined, serverOptions))
  created._protocol = negotiated.protocol
  const params = negotiated.extensions[w.extensionName]
  if (params !== undefined) {
    const base = (typeof serverOptions.perMessageDeflate === 'object' && serverOptions.perMessageDeflate !== null
      ? serverOptions.perMessageDeflate
      : {}) as Record<string, unknown>
    const options = inflateDictionary === undefined
      ? base
      : { ...base, zlibInflateOptions: { ...(base.zlibInflateOptions as object | undefined), dictionary: inflateDictionary } }
    const maxPayload = (serverOptions.maxPayload as number | undefined) ?? 0
    const pmd = new w.PerMessageDeflate({ ...options, isServer: true, maxPayload }, true, maxPayload)
    pmd.params = { ...params }
    created._extensions = { [w.extensionName]: pmd }
  }
  created.setSocket(socket, head, {
    allowSynchronousEvents: serverOptions.allowSynchronousEvents,
    maxBufferedChunks: serverOptions.maxBufferedChunks,
    maxFragments: serverOptions.maxFragments,
    maxPayload: serverOptions.maxPayload,
    skipUTF8Validation: serverOptions.skipUTF8Validation
  })
  return created
}

/**
 * Makes a WebSocketServer that negotiates permessage-deflate impose
 * client_no_context_takeover in its answer (RFC 7692 §7.1.1.1 lets the
 * server do so): every client message is then compressed on its own, so a
 * connection can move without the client's compression window. ws reads
 * `options.perMessageDeflate` at each upgrade, so this applies to every
 * connection from now on. Returns whether compression is on at all.
 */
export function wsImposeNoClientContext (wss: unknown): boolean {
  const options = (wss as { options?: { perMessageDeflate?: unknown } }).options
  if (options === undefined || options === null) throw unsupported('the WebSocketServer has no options object')
  const pmd = options.perMessageDeflate
  if (pmd === false || pmd === undefined || pmd === null) return false
  options.perMessageDeflate = { ...(typeof pmd === 'object' ? pmd : {}), clientNoContextTakeover: true }
  return true
}

/** The options a WebSocketServer builds its WebSockets with (setSocket, PerMessageDeflate). */
export function wsServerOptions (wss: unknown): Record<string, unknown> {
  const options = (wss as { options?: Record<string, unknown> }).options
  if (typeof options !== 'object' || options === null) throw unsupported('the WebSocketServer has no options object')
  return options
}

/**
 * Reading forced on again after a ReadHold was undone: the hold may have
 * found the handle stopped by Node's own back-pressure, which a stopped
 * reader never lifts; a cut that waits for the rest of a frame needs it.
 */
export function readAgain (socket: net.Socket): void {
  const handle = handleOf(socket)
  if (handle === null) return
  handle.reading = true
  handle.readStart()
}
