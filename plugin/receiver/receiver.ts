// The receiver: listens on a Unix socket, checks who connects, runs one Peer
// per sender, and turns each HANDOFF into a served connection or a REJECT.
// Limits, draining and the load it reports to senders live here too.
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import type http from 'node:http'
import type net from 'node:net'
import { Channel } from '../channel.js'
import { binding, type PeerCredentials } from '../native.js'
import { listenUnix, type UnixAddress, type UnixListener } from '../unix.js'
import {
  DEFAULT_FRAME_TIMEOUT_MS, DEFAULT_HELLO_TIMEOUT_MS, MAX_NAME_LENGTH, MAX_TIMEOUT_MS, encodeError, isProtocolName, protocolFramer,
  type HandoffRequest, type Status, type StatusReport
} from '../protocol/index.js'
import { ERR_HANDOFF_UNTRUSTED_SENDER, ERR_HANDOFF_RECEIVER_OPTION } from '../errors.js'
import { credentialPolicy, type Allowlist, type CredentialPolicy } from '../credentials.js'
import { checkServerCapacity, resolveServer, socketOptionsOf, type DeliveryServer } from './deliver.js'
import { attachInfo, type HandoffInfo } from './info.js'
import { defaultLogger, type HandoffLogger } from '../logger.js'
import { Peer, type PeerHost, type PeerIdentity } from './peer.js'
import { checkDescriptor, isClientGone, putBack, rebuildSocket } from './rebuild.js'
import { isRejection, rejection, type Rejection } from './rejection.js'
import { replayToListener, replayToServer } from './replay.js'
import { stageChannel } from '../trace.js'
import { statusReport } from './status-report.js'
import { ReceiverCounts, type ReceiverCountsSnapshot } from '../metrics/receiver-stats.js'
import { registryOf, type MetricsOptions } from '../metrics/prometheus.js'
import { registerReceiverMetrics } from '../metrics/receiver-prometheus.js'

/**
 * Who serves HANDOFFs of kind 'websocket' (live migration, plugin/migrate/):
 * `check` runs before the ACCEPT and throws a rejection() for a WebSocket this
 * process cannot resume; `resume` gets the socket after it, the bytes the
 * old sibling had read already in front. One owner, like `server`.
 */
export interface Resumer {
  check (request: HandoffRequest): void
  resume (socket: net.Socket, info: HandoffInfo, request: HandoffRequest): void
}

export interface ReceiverOptions {
  /** Filesystem path of the Unix socket. Exactly one of `path` and `abstract`. */
  path?: string
  /** Linux abstract socket name (no file, no permissions: only the credential check guards it). */
  abstract?: string
  /** File mode of the socket; default 0o600. */
  mode?: number
  /** A socket directory another uid can write or owns: 'refuse' (default, ERR_HANDOFF_UNSAFE_DIRECTORY) or 'warn' (logged). */
  sharedDirectory?: 'refuse' | 'warn'
  /** Who may hand off connections; default: only this process's uid. A peer matching any uid or gid is allowed. */
  allow?: Allowlist
  /** Live handed-off connections beyond which HANDOFFs get REJECT "capacity" (retryable). Default: no limit. */
  maxConnections?: number
  /** Replay every handoff into this server (or Fastify instance) as if it had accepted the connection itself. */
  server?: DeliveryServer
  /** Target names this receiver serves; a HANDOFF naming another gets REJECT "unknown-target". Default: any. */
  targets?: string[]
  /** A label sent in our HELLO, for the senders' logs. */
  name?: string
  /** How long a sender has to send its HELLO (ms); default 5000. */
  helloTimeout?: number
  /** How long a frame may take from its first byte to its last (ms), then ERROR "timeout"; default 5000. */
  frameTimeout?: number
  /** listen(2) backlog; default 511. */
  backlog?: number
  /** pino's logger, or fastify.log. Default: silent, or NODE_DEBUG=handoff. */
  log?: HandoffLogger
  /** The 0.1 name of `log`. */
  logger?: HandoffLogger
  /**
   * A listening socket taken over from the previous sibling (takeover's
   * claim(), then adoptUnixListener()) instead of a new one bound at `path`
   * (which must name the same socket): the path never stops answering.
   */
  listener?: UnixListener
  /** Register Prometheus collectors of `stats` with this prom-client registry (docs/metrics.md). */
  metrics?: MetricsOptions
}

/** rejectedBy, liveByTarget, senderConnections, decision: docs/metrics.md. */
export interface ReceiverStats extends ReceiverCountsSnapshot {
  /** Handed-off connections open now. */
  live: number
  /** Handoffs accepted since the start. */
  total: number
  /** HANDOFFs answered with REJECT. */
  rejected: number
  /** Sender channels open now. */
  peers: number
  /** Connecting processes dropped as untrusted: their credentials are not in the allowlist. Was `untrustedPeers`. */
  untrustedPeers: number
  draining: boolean
}

export interface RejectEvent {
  id: number
  reason: string
  message: string
  retryable: boolean
  peer: PeerIdentity
  kind?: string
  target?: string
}

export interface ReceiverEvents {
  /** A handed-off connection, when no `server` is given. The listener owns the socket from now on. */
  handoff: [socket: net.Socket, info: HandoffInfo]
  /** A sender completed its HELLO. */
  peer: [peer: PeerIdentity]
  /** A connecting process was dropped as untrusted, for its credentials, before any frame was read. Was 'untrustedPeer'. */
  untrustedPeer: [peer: PeerIdentity, err: Error]
  /** A sender's channel closed. */
  peerClose: [peer: PeerIdentity]
  /** A HANDOFF was answered with REJECT. */
  reject: [event: RejectEvent]
  /** Something went wrong that the receiver survived (a peer dropped, accept failing). Emitted only if listened to; always logged. */
  error: [err: Error & { peer?: PeerIdentity }]
  close: []
}

function validate (options: ReceiverOptions): { address: UnixAddress, max: number | null } {
  if (typeof options !== 'object' || options === null) throw new ERR_HANDOFF_RECEIVER_OPTION('options', 'expected an object')
  const { path, abstract } = options
  if ((path === undefined) === (abstract === undefined)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('path', 'give exactly one of "path" and "abstract"')
  }
  if (path !== undefined && (typeof path !== 'string' || path.length === 0)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('path', 'expected a non-empty string')
  }
  if (abstract !== undefined && (typeof abstract !== 'string' || abstract.length === 0)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('abstract', 'expected a non-empty string')
  }
  if (abstract !== undefined && process.platform !== 'linux') {
    throw new ERR_HANDOFF_RECEIVER_OPTION('abstract', 'abstract socket names exist only on Linux')
  }
  if (options.mode !== undefined && (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o777)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('mode', 'expected a file mode from 0 to 0o777')
  }
  if (options.sharedDirectory !== undefined && options.sharedDirectory !== 'refuse' && options.sharedDirectory !== 'warn') {
    throw new ERR_HANDOFF_RECEIVER_OPTION('sharedDirectory', 'expected \'refuse\' or \'warn\'')
  }
  const max = options.maxConnections
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('maxConnections', 'expected a non-negative integer')
  }
  const timeout = options.helloTimeout
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0) || timeout > MAX_TIMEOUT_MS)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('helloTimeout', `expected a positive number of milliseconds, at most ${MAX_TIMEOUT_MS}`)
  }
  const frameTimeout = options.frameTimeout
  if (frameTimeout !== undefined && (typeof frameTimeout !== 'number' || !(frameTimeout > 0) || frameTimeout > MAX_TIMEOUT_MS)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('frameTimeout', `expected a positive number of milliseconds, at most ${MAX_TIMEOUT_MS}`)
  }
  if (options.targets !== undefined &&
      (!Array.isArray(options.targets) || !options.targets.every((t) => typeof t === 'string' && t.length > 0))) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('targets', 'expected an array of non-empty strings')
  }
  if (options.name !== undefined && !isProtocolName(options.name)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('name', `expected a string of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  return { address: path !== undefined ? path : { abstract: abstract as string }, max: max ?? null }
}

/** How long an untrusted peer's socket stays open for its ERROR frame to go out. */
const UNTRUSTED_FLUSH_MS = 1000

/** How long closed connections wait to be reported together in one STATUS (scheduleStatus). */
const STATUS_DELAY_MS = 10

export class Receiver extends EventEmitter<ReceiverEvents> implements PeerHost {
  readonly address: UnixAddress
  readonly helloTimeout: number
  readonly frameTimeout: number
  readonly name?: string
  private readonly listener: UnixListener
  private readonly policy: CredentialPolicy
  private readonly max: number | null
  private readonly targets: Set<string> | null
  private readonly server: http.Server | null
  private readonly logger: HandoffLogger
  /** Each sender's logger, bound to its identity once its HELLO named it. */
  private readonly peerLogs = new WeakMap<Peer, HandoffLogger>()
  private readonly peers = new Set<Peer>()
  /** Channels that asked for our status (§13): not senders, still closed with us. */
  private readonly observers = new Set<Peer>()
  private readonly startedAt = Date.now()
  private readonly connections = new Set<net.Socket>()
  private total = 0
  private rejected = 0
  private untrustedPeers = 0
  /** The counts of stats beyond the fields above (docs/metrics.md). */
  private readonly counts = new ReceiverCounts()
  private isDraining = false
  private closing: Promise<void> | null = null
  private statusPending: NodeJS.Timeout | null = null
  private drainWaiters: Array<() => void> = []
  private resumer: Resumer | null = null
  private handingOver = false

  /** Use createReceiver(): listening is asynchronous. */
  constructor (listener: UnixListener, options: ReceiverOptions, policy: CredentialPolicy, max: number | null,
    server: http.Server | null) {
    super()
    this.listener = listener
    this.address = listener.address
    this.policy = policy
    this.max = max
    this.server = server
    this.targets = options.targets === undefined ? null : new Set(options.targets)
    this.helloTimeout = options.helloTimeout ?? DEFAULT_HELLO_TIMEOUT_MS
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT_MS
    if (options.name !== undefined) this.name = options.name
    this.logger = options.log ?? options.logger ?? defaultLogger()
    listener.on('connection', (fd) => this.onConnection(fd))
    listener.on('error', (err) => this.report(err, 'accepting a sender failed; retrying shortly'))
    for (const warning of listener.warnings) this.logger.warn({ path: listener.address }, `socket directory: ${warning}`)
  }

  get draining (): boolean { return this.isDraining }

  /** The listening socket (to offer it to a successor: plugin/takeover/). */
  get socket (): UnixListener { return this.listener }

  /**
   * A successor took over our listening socket (takeover): stop accepting on
   * it (the file stays: it names the successor's socket now), and tell every
   * sender GOODBYE "handover": each reconnects to the path, i.e. to the
   * successor. Unlike drain(), a HANDOFF that crossed the GOODBYE is still
   * ACCEPTed and served here (it moves on with the live migration), so no
   * handoff is refused because a sibling is restarting. Resolves once every
   * sender channel has closed, or after `timeout` ms.
   */
  async handOver (timeout = 5000): Promise<void> {
    if (!this.handingOver) {
      this.handingOver = true
      // Paused, not closed yet: if the successor dies before it took the
      // connections, takeBack() accepts on the very same socket again.
      this.listener.pause()
      for (const peer of this.peers) peer.goodbye('handover', 'a new sibling took over this socket')
    }
    if (this.peers.size === 0) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeout)
      const self = this
      function done (): void {
        clearTimeout(timer)
        self.removeListener('peerClose', check)
        resolve()
      }
      function check (): void { if (self.peers.size === 0) done() }
      this.on('peerClose', check)
    })
  }

  /** After handOver(): the successor is serving; our copy of the listening socket closes (the file stays). */
  releaseSocket (): void {
    this.listener.release()
  }

  /**
   * After handOver(): the successor died. Accept on the listening socket
   * again (nobody else does now; what waited in its backlog is served here);
   * senders that reconnect stay.
   */
  takeBack (): void {
    this.handingOver = false
    if (!this.listener.closed) this.listener.resume()
  }

  /**
   * Lets this receiver take established WebSockets from an older sibling
   * (kind 'websocket'); null stops that (they are REJECTed again). Set by
   * plugin/migrate/, not usually by hand.
   */
  setResumer (resumer: Resumer | null): void {
    this.resumer = resumer
  }

  get stats (): ReceiverStats {
    return {
      live: this.connections.size,
      total: this.total,
      rejected: this.rejected,
      peers: this.peers.size,
      untrustedPeers: this.untrustedPeers,
      draining: this.isDraining,
      ...this.counts.snapshot()
    }
  }

  /** The load report of STATUS and ACCEPT, for senders balancing by least connections. */
  status (): Status {
    return { live: this.connections.size, max: this.max, draining: this.isDraining }
  }

  /**
   * Stops taking handoffs: every sender gets STATUS { draining: true } and
   * GOODBYE "draining", and HANDOFFs that crossed it get REJECT "draining"
   * (retryable). Connections already handed off keep being served. Resolves
   * once all of them have closed; it does not close anything itself.
   */
  drain (): Promise<void> {
    this.startDraining('draining', 'the receiver is draining')
    if (this.connections.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  /**
   * Stops listening (the socket file is removed), says GOODBYE "shutdown" to
   * every sender and closes their channels. Connections already handed off
   * are NOT closed: they belong to the server they were delivered to (or to
   * the 'handoff' listener), which keeps serving them; close that server, or
   * await drain() first, to end them.
   */
  close (): Promise<void> {
    if (this.closing !== null) return this.closing
    this.startDraining('shutdown', 'the receiver is shutting down')
    const listenerClosed = new Promise<void>((resolve) => {
      if (this.listener.closed) resolve()
      else this.listener.once('close', () => resolve())
    })
    this.listener.close()
    if (this.listener.removed === false) {
      this.logger.warn({ path: this.address }, 'the socket file was no longer ours (removed or replaced by someone else); left it alone')
    }
    const peersClosed = [...this.peers, ...this.observers].map((peer) => new Promise<void>((resolve) => {
      if (peer.closed) resolve()
      else peer.once('close', () => resolve())
      peer.end()
    }))
    this.closing = Promise.all([listenerClosed, ...peersClosed]).then(() => {
      if (this.statusPending !== null) clearTimeout(this.statusPending)
      this.statusPending = null
      this.emit('close')
    })
    return this.closing
  }

  // ---------------------------------------------------------------------------
  // Peers

  private onConnection (fd: number): void {
    if (this.closing !== null) {
      binding.closeFd(fd)
      return
    }
    let credentials: PeerCredentials
    try {
      credentials = binding.peerCredentials(fd)
    } catch (err) {
      binding.closeFd(fd)
      this.report(err as Error, 'cannot read a connecting sender\'s credentials; dropped it')
      return
    }
    if (!this.policy.allows(credentials)) {
      this.dropUntrusted(fd, credentials)
      return
    }
    const peer = new Peer(fd, credentials, this)
    this.peers.add(peer)
    this.peerLogs.set(peer, this.logger.child({ peer: peer.identity }))
    peer.on('ready', () => {
      // Accepted just before the listener went to the successor.
      if (this.handingOver) peer.goodbye('handover', 'a new sibling took over this socket')
      this.peerLogs.set(peer, this.logger.child({ peer: peer.identity }))
      this.counts.senderConnections++
      this.logOf(peer).info({}, 'sender connected')
      this.emit('peer', peer.identity)
    })
    peer.on('error', (err) => this.report(Object.assign(err, { peer: peer.identity }), 'dropped a sender channel'))
    peer.on('warning', (err) => this.logOf(peer).warn({ err }, 'descriptors that belong to no frame were closed'))
    peer.on('close', () => {
      if (this.observers.delete(peer)) return
      this.peers.delete(peer)
      this.emit('peerClose', peer.identity)
    })
    peer.start()
  }

  /**
   * A stranger: logged, told ERROR "unauthorized" (§9) and dropped. Its
   * channel never reads: no frame and no descriptor of it is ever taken in
   * (whatever it sent dies with the socket in the kernel).
   */
  private dropUntrusted (fd: number, credentials: PeerCredentials): void {
    this.untrustedPeers++
    const err = new ERR_HANDOFF_UNTRUSTED_SENDER(credentials.uid, credentials.gid, credentials.pid)
    const identity = { pid: credentials.pid, uid: credentials.uid, gid: credentials.gid }
    this.logger.warn({ peer: identity, allowed: this.policy.describe() }, err.message)
    const channel = new Channel(fd, protocolFramer)
    channel.pause()
    channel.on('error', () => {})
    const timer = setTimeout(() => channel.close(), UNTRUSTED_FLUSH_MS)
    timer.unref()
    channel.send(encodeError({ reason: 'unauthorized', message: 'untrusted credentials' }))
      .catch(() => {})
      .finally(() => { clearTimeout(timer); channel.close() })
    this.emit('untrustedPeer', identity, err)
  }

  /** PeerHost: `peer` asked for our status; it is an observer, not a sender, from now on. */
  answerStatus (peer: Peer): StatusReport {
    this.peers.delete(peer)
    this.observers.add(peer)
    return statusReport({
      ...this.status(),
      total: this.total,
      rejected: this.rejected,
      untrustedPeers: this.untrustedPeers,
      peers: [...this.peers],
      startedAt: this.startedAt,
      ...(this.name === undefined ? {} : { name: this.name })
    })
  }

  private startDraining (reason: 'draining' | 'shutdown', message: string): void {
    if (!this.isDraining) {
      this.isDraining = true
      for (const peer of this.peers) peer.sendStatus(this.status())
    }
    for (const peer of this.peers) peer.goodbye(reason, message)
  }

  // ---------------------------------------------------------------------------
  // Handoffs

  /**
   * PeerHost: decide, answer, then serve. Never throws; owns `fd` from the
   * call on. PROTOCOL.md §7 (receiver 2): nothing is read from or written to
   * the client connection until our ACCEPT is completely in the channel, so a
   * sender that reads the end of the channel without a verdict knows the
   * connection is still its own. Everything that can reject the connection
   * runs before the ACCEPT; after it, only the delivery.
   */
  handoff (peer: Peer, id: number, request: HandoffRequest, fd: number): void {
    const receivedAt = Date.now()
    const started = performance.now()
    let socket: net.Socket | null = null
    try {
      socket = this.adopt(request, fd)
    } catch (err) {
      const decision = isRejection(err)
        ? err
        : rejection('internal', `adopting the connection failed: ${(err as Error).message}`, { cause: err })
      this.reject(peer, id, decision, request)
      if (!isRejection(err)) this.report(err as Error, 'a handoff failed while being adopted')
      return
    }
    const adopted = socket
    // Counted from now: it takes a place under maxConnections while its ACCEPT is on the way.
    this.track(adopted, request.meta.target)
    peer.accept(id, { live: this.connections.size, max: this.max }, (err) => {
      if (err !== null) {
        // The sender will read the end of the channel with this handoff in
        // flight: the connection is its own again. Drop our copy unserved
        // (close only: the sender's copy keeps the client connected).
        this.logOf(peer).warn({ id, err }, 'ACCEPT could not be written; the connection stays with the sender')
        adopted.destroy()
        return
      }
      this.total++
      this.counts.decided((performance.now() - started) / 1000)
      this.logOf(peer).debug({ id, kind: request.meta.kind, target: request.meta.target }, 'handoff accepted')
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'answered', port: request.meta.remotePort })
      this.serve(adopted, this.infoFor(peer, id, request, adopted, receivedAt), request)
      this.scheduleStatus()
    })
  }

  /**
   * The receiver's own checks (§9, after the codec's): descriptor kind, a
   * live client, target, draining, capacity, a consumer, the deadline. On
   * success the returned socket owns `fd` but has not read anything; on
   * failure `fd` is closed (never shut down: the sender's copy stays intact).
   */
  private adopt (request: HandoffRequest, fd: number): net.Socket {
    const { meta } = request
    let socket: net.Socket | null = null
    try {
      // The kind of descriptor costs one getsockopt on the way: the rebuild
      // wraps TCP sockets only (rebuild.ts); of those, only a connected one
      // has a peer address (a listening socket and a reset connection have
      // none). Only then is it inspected again, to say which.
      try {
        socket = rebuildSocket(fd, this.server === null ? {} : socketOptionsOf(this.server))
      } catch (err) {
        checkDescriptor(fd)
        throw err
      }
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'rebuilt', port: meta.remotePort })
      if (isClientGone(socket)) {
        checkDescriptor(fd)
        throw rejection('closed-client', 'the client connection is already closed')
      }
      if (this.targets !== null && meta.target !== undefined && !this.targets.has(meta.target)) {
        throw rejection('unknown-target', `this receiver serves ${[...this.targets].join(', ')}, not ${meta.target}`)
      }
      if (this.isDraining) throw rejection('draining', 'the receiver is draining')
      if (this.max !== null && this.connections.size >= this.max) {
        throw rejection('capacity', `the receiver is at its maxConnections (${this.max})`)
      }
      if (meta.kind === 'websocket') {
        // Resumed by its own hook, never replayed into the HTTP server.
        if (this.resumer === null) throw rejection('internal', 'this receiver resumes no WebSockets (no migration hook)')
        this.resumer.check(request)
      } else if (this.server !== null) checkServerCapacity(this.server)
      else if (this.listenerCount('handoff') === 0) {
        throw rejection('internal', 'the receiver has no server and no \'handoff\' listener')
      }
      if (meta.deadline !== undefined && Date.now() >= meta.deadline) {
        throw rejection('expired', `decided ${Date.now() - meta.deadline} ms after the handoff's deadline`)
      }
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'checked', port: meta.remotePort })
      return socket
    } catch (err) {
      const built = socket as net.Socket | null
      if (built !== null) built.destroy()
      else {
        try { binding.closeFd(fd) } catch { /* already closed */ }
      }
      throw err
    }
  }

  /**
   * After the ACCEPT is in the channel: the bytes already read go in front,
   * then the consumer gets the socket, kept to the requests the web app let
   * this process serve (replay.ts).
   */
  private serve (socket: net.Socket, info: HandoffInfo, request: HandoffRequest): void {
    attachInfo(socket, info)
    try {
      if (request.meta.kind === 'websocket' && this.resumer !== null) {
        putBack(socket, request.buffered)
        this.resumer.resume(socket, info, request)
      } else if (this.server !== null) replayToServer(this.server, socket, request)
      else replayToListener(socket, request, () => this.emit('handoff', socket, info))
    } catch (err) {
      // Ours already (ACCEPT was sent): nobody else can serve it any more.
      socket.destroy()
      this.report(err as Error, 'delivering an accepted connection failed; it was closed')
    }
  }

  /** PeerHost: every REJECT goes through here, to be counted and reported. */
  reject (peer: Peer, id: number, decision: Rejection, request?: HandoffRequest): void {
    this.rejected++
    this.counts.rejected(decision.reason)
    peer.reject(id, decision)
    const event: RejectEvent = {
      id,
      reason: decision.reason,
      message: decision.message,
      retryable: decision.retryable,
      peer: peer.identity,
      ...(request === undefined ? {} : { kind: request.meta.kind }),
      ...(request?.meta.target === undefined ? {} : { target: request.meta.target })
    }
    const { peer: _identity, ...fields } = event
    this.logOf(peer).info(fields, 'handoff rejected')
    this.emit('reject', event)
  }

  private infoFor (peer: Peer, id: number, request: HandoffRequest, socket: net.Socket, receivedAt: number): HandoffInfo {
    const { meta } = request
    const info: HandoffInfo = {
      id,
      kind: meta.kind,
      context: meta.context,
      head: request.head,
      keepAlive: meta.keepAlive,
      requestNumber: 1,
      sender: peer.identity,
      sentAt: meta.sentAt,
      receivedAt
    }
    if (meta.target !== undefined) info.target = meta.target
    // The kernel's word first (correct after a pass); the sender's as a fallback.
    const remoteAddress = socket.remoteAddress ?? meta.remoteAddress
    const remotePort = socket.remotePort ?? meta.remotePort
    const localAddress = socket.localAddress ?? meta.localAddress
    const localPort = socket.localPort ?? meta.localPort
    if (remoteAddress !== undefined) info.remoteAddress = remoteAddress
    if (remotePort !== undefined) info.remotePort = remotePort
    if (localAddress !== undefined) info.localAddress = localAddress
    if (localPort !== undefined) info.localPort = localPort
    return info
  }

  private track (socket: net.Socket, target: string | undefined): void {
    this.connections.add(socket)
    this.counts.opened(target)
    socket.once('close', () => {
      if (!this.connections.delete(socket)) return
      this.counts.closed(target)
      this.scheduleStatus()
      if (this.connections.size === 0 && this.drainWaiters.length > 0) {
        const waiters = this.drainWaiters.splice(0)
        for (const resolve of waiters) resolve()
      }
    })
  }

  /**
   * The connections that closed within STATUS_DELAY_MS are reported
   * together, in one STATUS to every sender. A rise in load needs no STATUS
   * (each ACCEPT carries it), and a fall reported a few milliseconds late
   * only delays a least-connections choice; a STATUS per close would wake
   * every sender once per connection (issue 17: at one connection at a time
   * that wake-up landed on the next connection's accept). The timer is
   * unref'd: unlike an unref'd immediate it still bounds libuv's poll, so
   * the report never waits for some unrelated event.
   */
  private scheduleStatus (): void {
    if (this.statusPending !== null || this.closing !== null) return
    this.statusPending = setTimeout(() => {
      this.statusPending = null
      const status = this.status()
      for (const peer of this.peers) peer.sendStatus(status)
    }, STATUS_DELAY_MS)
    this.statusPending.unref()
  }

  private logOf (peer: Peer): HandoffLogger {
    return this.peerLogs.get(peer) ?? this.logger
  }

  private report (err: Error & { peer?: PeerIdentity }, message: string): void {
    this.logger.warn({ err, ...(err.peer === undefined ? {} : { peer: err.peer }) }, message)
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}

/**
 * createReceiver's synchronous checks (ERR_HANDOFF_RECEIVER_OPTION), on
 * their own so that the Fastify plugin can refuse bad options when it is
 * registered rather than when the app gets ready.
 */
export function checkReceiverOptions (options: ReceiverOptions): { address: UnixAddress, max: number | null, policy: CredentialPolicy } {
  const { address, max } = validate(options)
  const policy = credentialPolicy(options.allow, 'allow', (name, reason) => new ERR_HANDOFF_RECEIVER_OPTION(name, reason))
  if (options.metrics !== undefined) registryOf(options.metrics)
  return { address, max, policy }
}

/**
 * A stale socket file may be replaced, but a path that names anything else (a
 * regular file, a directory: a configuration mistake) must never be removed.
 */
function refuseNonSocket (path: string): void {
  let stats: fs.Stats
  try {
    stats = fs.lstatSync(path)
  } catch {
    return // nothing there (or unreadable: bind will say)
  }
  if (!stats.isSocket()) throw new ERR_HANDOFF_RECEIVER_OPTION('path', `${path} exists and is not a socket; refusing to replace it`)
}

/**
 * Listens on `options.path` (or the abstract name) and starts serving
 * senders. A path a live process still listens on is refused
 * (ERR_HANDOFF_PATH_IN_USE); a stale one is replaced. With a Fastify
 * instance as `server`, waits for it to be ready (its routes registered)
 * before taking any handoff.
 */
export async function createReceiver (options: ReceiverOptions): Promise<Receiver> {
  const { address, max, policy } = checkReceiverOptions(options)
  let server: http.Server | null = null
  if (options.server !== undefined) {
    const resolved = resolveServer(options.server)
    if (resolved.fastify !== undefined) await resolved.fastify.ready()
    server = resolved.http
  }
  if (options.listener !== undefined) {
    if (options.listener.closed || options.listener.address !== address) {
      throw new ERR_HANDOFF_RECEIVER_OPTION('listener', 'expected an open listener on the receiver\'s own path')
    }
    return await withMetrics(new Receiver(options.listener, options, policy, max, server), options.metrics)
  }
  if (typeof address === 'string') refuseNonSocket(address)
  const listener = await listenUnix(address, {
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
    ...(options.sharedDirectory === undefined ? {} : { sharedDirectory: options.sharedDirectory })
  })
  return await withMetrics(new Receiver(listener, options, policy, max, server), options.metrics)
}

/** Registers the receiver's collectors; a registry that refuses them closes the receiver before saying why. */
async function withMetrics (receiver: Receiver, metrics: MetricsOptions | undefined): Promise<Receiver> {
  if (metrics === undefined) return receiver
  try {
    registerReceiverMetrics(receiver, metrics)
  } catch (err) {
    await receiver.close()
    throw err
  }
  return receiver
}
