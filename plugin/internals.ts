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
import { ERR_HANDOFF_NODE_INTERNAL } from './errors.js'

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
  return new net.Socket({
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: options.allowHalfOpen,
    manualStart: true,
    ...(options.highWaterMark === undefined
      ? {}
      : { readableHighWaterMark: options.highWaterMark, writableHighWaterMark: options.highWaterMark })
  } as net.SocketConstructorOpts)
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
  return { socket: socket as net.Socket, head: Buffer.isBuffer(head) ? head : Buffer.alloc(0) }
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
