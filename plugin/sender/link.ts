// One channel from this process to one receiver (PROTOCOL.md §5–§7, sender
// side): connect, HELLO, many HANDOFFs in flight keyed by id, their verdicts,
// the receiver's load reports, and reconnecting with backoff when the
// receiver goes away (a restart, a crash, a GOODBYE). Before anything is
// written, the kernel says who listens there: a receiver the target does not
// trust is closed unwritten to.
import { EventEmitter } from 'node:events'
import { Channel, closeFds } from '../channel.js'
import { credentialPolicy, type CredentialPolicy } from '../credentials.js'
import { binding, type PeerCredentials } from '../native.js'
import { connectUnix, describeAddress, type UnixAddress } from '../unix.js'
import {
  DEFAULT_FRAME_TIMEOUT_MS, DEFAULT_HELLO_TIMEOUT_MS, FrameType, HEADER_SIZE, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION,
  MAX_PROTOCOL_VERSION, protocolFramer,
  decodeMessage, encodeError, encodeGoodbye, encodeHandoff, encodeHello, isProtocolError, negotiateHello, outOfPlace, protocolError,
  type ErrorReason, type HandoffMeta, type HandoffRequest, type Message
} from '../protocol/index.js'
import {
  ERR_HANDOFF_CHANNEL_CLOSED, ERR_HANDOFF_CHANNEL_ENDED, ERR_HANDOFF_HELLO_TIMEOUT, ERR_HANDOFF_LATE_ACCEPT,
  ERR_HANDOFF_PEER_CLOSED, ERR_HANDOFF_PEER_ERROR, ERR_HANDOFF_RECEIVER_DRAINING, ERR_HANDOFF_RECEIVER_LOST,
  ERR_HANDOFF_RECEIVER_UNRESPONSIVE, ERR_HANDOFF_SENDER_CLOSED, ERR_HANDOFF_SENDER_OPTION, ERR_HANDOFF_TOO_LARGE,
  ERR_HANDOFF_UNTRUSTED_RECEIVER, ERR_HANDOFF_VERDICT_TIMEOUT
} from '../errors.js'
import { stageChannel } from '../trace.js'

export type LinkState = 'idle' | 'connecting' | 'ready' | 'draining' | 'down' | 'closed'

/** What became of one HANDOFF. */
export type Verdict = VerdictOutcome & {
  /** The HANDOFF's id on this channel, once one was given (the receiver's logs and 'reject' event name it too). */
  id?: number
}

type VerdictOutcome =
  /** ACCEPT: the receiver owns the connection. */
  | { outcome: 'accepted', live: number, max: number | null }
  /** REJECT: ours again, untouched. */
  | { outcome: 'rejected', reason: string, message: string, retryable: boolean }
  /** The frame never reached the receiver whole (not connected, too large, the write failed): ours. */
  | { outcome: 'unsent', error: Error }
  /** The channel ended before a verdict (PROTOCOL.md §7, sender 6): ours. */
  | { outcome: 'lost', error: Error }
  /** No verdict by deadline + grace (§7, sender 7): ours. */
  | { outcome: 'timeout', error: Error }
  /**
   * This side had to drop the channel with the handoff in flight (the
   * receiver broke the protocol, or this sender was closed by force): a
   * verdict may have been lost unread, so nobody can say who owns it (§7,
   * sender 8). The connection must be closed without writing to it.
   */
  | { outcome: 'doubt', error: Error }

export interface LinkLoad {
  /** Connections the receiver reported serving (STATUS, ACCEPT). */
  live: number
  max: number | null
  draining: boolean
}

export interface LinkHealth {
  address: string
  state: LinkState
  /** false after a verdict timeout, until the receiver writes to the channel again. */
  responsive: boolean
  inFlight: number
  live: number
  max: number | null
  draining: boolean
  /** The receiver's HELLO name and pid, once connected. */
  receiver?: { name?: string, pid: number }
  connectedAt?: number
  lastError?: string
  /** The `code` of lastError, when it has one (e.g. ERR_HANDOFF_UNTRUSTED_RECEIVER). */
  lastErrorCode?: string
  /** Connection attempts that failed since the last success. */
  failures: number
}

export interface LinkOptions {
  address: UnixAddress
  /** Name sent in our HELLO (logs on the receiver's side). */
  name?: string
  helloTimeout?: number
  /** ms a frame from the receiver may take from its first byte to its last, then ERROR "timeout"; default 5000. */
  frameTimeout?: number
  /** Reconnect delays (ms): doubled from `min` after each failure, up to `max`. */
  reconnect?: { min?: number, max?: number }
  /** Whose receiver to trust (the kernel's credentials of the listener); default: this process's uid only. */
  policy?: CredentialPolicy
}

export interface SendOptions {
  /** ms the receiver has to decide: the HANDOFF's deadline is now + timeout. */
  timeout: number
  /** ms after the deadline before the handoff is given up (§7, sender 7). */
  grace: number
  /** The receiver's target name to put in the metadata (default: the request's own). */
  target?: string
}

/**
 * The metadata as it goes out: the request's, with this attempt's target,
 * send time and deadline. One literal with every key (one object shape; the
 * codec leaves out the undefined ones) rather than a spread: this runs once
 * per handoff.
 */
function stampMeta (meta: HandoffMeta, target: string | undefined, sentAt: number, deadline: number): HandoffMeta {
  return {
    kind: meta.kind,
    target: target ?? meta.target,
    keepAlive: meta.keepAlive,
    sentAt,
    deadline,
    remoteAddress: meta.remoteAddress,
    remotePort: meta.remotePort,
    localAddress: meta.localAddress,
    localPort: meta.localPort,
    family: meta.family,
    context: meta.context,
    resume: meta.resume
  }
}

export interface LinkEvents {
  ready: []
  down: [err: Error]
  /**
   * The process listening at the address is not one the policy allows (its
   * connection was closed unwritten to; 'down' follows). Once per process:
   * reconnects that find the same one again only count in health().
   */
  untrusted: [err: Error, receiver: PeerCredentials]
  /** A problem worth logging that the link survives or recovers from. */
  warning: [err: Error]
  /** The receiver broke the protocol in a way that matters to a client (a late ACCEPT). */
  violation: [err: Error]
  load: [load: LinkLoad]
  close: []
}

interface Pending {
  id: number
  resolve: (verdict: Verdict) => void
  timer: NodeJS.Timeout | null
  /** Where a late verdict will be recognised after the handoff was given up. */
  deadline: number
}

/** Ids given up after deadline + grace, remembered a while to recognise a late ACCEPT. */
const GIVEN_UP_MEMORY = 1024

export class Link extends EventEmitter<LinkEvents> {
  readonly address: UnixAddress
  readonly label: string
  private readonly helloName: string | undefined
  private readonly helloTimeout: number
  private readonly frameTimeout: number
  private readonly backoffMin: number
  private readonly backoffMax: number
  private readonly policy: CredentialPolicy
  /** The untrusted receiver last reported ('uid:gid:pid'), until a trusted one says HELLO. */
  private untrustedKey: string | undefined
  private channel: Channel | null = null
  private stateValue: LinkState = 'idle'
  private readonly pending = new Map<number, Pending>()
  private readonly givenUp = new Map<number, number>()
  private nextId = 1
  private peerMaxFrameSize = 0
  /** The channel's protocol version (§5): 1 until the HELLOs agree on one; every frame written and read after them carries it. */
  private version = PROTOCOL_VERSION
  private receiverHello: { name?: string, pid: number } | undefined
  private helloTimer: NodeJS.Timeout | null = null
  private reconnectTimer: NodeJS.Timeout | null = null
  private failures = 0
  private connectedAt: number | undefined
  private lastError: Error | undefined
  private responsiveValue = true
  private loadValue: LinkLoad = { live: 0, max: null, draining: false }
  /** The receiver said GOODBYE "handover": reconnect at once once nothing is in flight. */
  private handingOver = false
  /** Connecting to the new sibling after a handover (see handingOverNow). */
  private rejoining = false
  private readonly waiters: Array<() => void> = []

  constructor (options: LinkOptions) {
    super()
    this.address = options.address
    this.label = describeAddress(options.address)
    this.helloName = options.name
    this.helloTimeout = options.helloTimeout ?? DEFAULT_HELLO_TIMEOUT_MS
    this.frameTimeout = options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT_MS
    this.backoffMin = options.reconnect?.min ?? 50
    this.backoffMax = Math.max(this.backoffMin, options.reconnect?.max ?? 5000)
    this.policy = options.policy ?? credentialPolicy(undefined, 'allow', (name, reason) => new ERR_HANDOFF_SENDER_OPTION(name, reason))
  }

  get state (): LinkState { return this.stateValue }
  get inFlight (): number { return this.pending.size }
  get load (): LinkLoad { return { ...this.loadValue } }
  get responsive (): boolean { return this.responsiveValue }
  /** The protocol version of the current channel (§5): 1 until the HELLOs agree on one. */
  get protocolVersion (): number { return this.version }

  /** Ready for a new HANDOFF now. */
  get usable (): boolean {
    return this.stateValue === 'ready' && this.responsiveValue && !this.loadValue.draining
  }

  health (): LinkHealth {
    const h: LinkHealth = {
      address: this.label,
      state: this.stateValue,
      responsive: this.responsiveValue,
      inFlight: this.pending.size,
      live: this.loadValue.live,
      max: this.loadValue.max,
      draining: this.loadValue.draining,
      failures: this.failures
    }
    if (this.receiverHello !== undefined) h.receiver = { ...this.receiverHello }
    if (this.connectedAt !== undefined) h.connectedAt = this.connectedAt
    if (this.lastError !== undefined) {
      h.lastError = this.lastError.message
      const code = (this.lastError as { code?: unknown }).code
      if (typeof code === 'string') h.lastErrorCode = code
    }
    return h
  }

  /** Starts connecting (no-op unless idle or down). */
  start (): void {
    if (this.stateValue !== 'idle' && this.stateValue !== 'down') return
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer)
      this.reconnectTimer = null
    }
    this.setState('connecting')
    void this.connect()
  }

  /** Reconnecting to the same path because its receiver handed the socket over (GOODBYE "handover"). */
  get reconnecting (): boolean { return this.stateValue === 'draining' && this.handingOver }

  /**
   * Between a GOODBYE "handover" and the new sibling's HELLO (or a failure to
   * reach it): handoffs wait for it instead of falling back, so health says
   * the receiver still takes them, and a probe does not flap during a deploy.
   */
  get handingOverNow (): boolean { return this.reconnecting || this.rejoining }

  /** Resolves once the link is no longer connecting (ready, down or closed). */
  settled (): Promise<void> {
    if (this.stateValue !== 'connecting' && !this.reconnecting) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /**
   * Sends one HANDOFF with the client's descriptor and resolves with its
   * verdict. Never rejects. The caller keeps `fd` (and must not touch the
   * connection) until the verdict says whose it is.
   */
  send (request: HandoffRequest, fd: number, options: SendOptions): Promise<Verdict> {
    const channel = this.channel
    if (this.stateValue !== 'ready' || channel === null) {
      return Promise.resolve({ outcome: 'unsent', error: new ERR_HANDOFF_CHANNEL_CLOSED() })
    }
    const id = this.allocateId()
    const sentAt = Date.now()
    const deadline = sentAt + options.timeout
    let frame: Buffer
    try {
      frame = encodeHandoff(id, { meta: stampMeta(request.meta, options.target, sentAt, deadline), head: request.head, buffered: request.buffered },
        this.peerMaxFrameSize, this.version)
    } catch (err) {
      // Too large for this receiver, or a context that is not JSON: the
      // connection never left, and no other receiver would take it either.
      const error = isProtocolError(err) && err.reason === 'frame-too-large'
        ? new ERR_HANDOFF_TOO_LARGE(err.message, { cause: err })
        : err as Error
      return Promise.resolve({ outcome: 'unsent', error })
    }
    if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'encoded', port: request.meta.remotePort })
    return new Promise<Verdict>((resolve) => {
      const pending: Pending = { id, resolve, timer: null, deadline }
      this.pending.set(id, pending)
      pending.timer = this.armTimer(pending, deadline + options.grace, options.timeout + options.grace, Date.now())
      channel.sendWithCallback(frame, [fd], (err) => {
        if (err === null || err === undefined) {
          if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'sent', port: request.meta.remotePort })
          return
        }
        // Not (wholly) in the kernel: the receiver has no complete frame.
        this.settle(id, { outcome: 'unsent', error: err })
      })
    })
  }

  /**
   * Graceful: GOODBYE ("no more handoffs"), wait for the verdicts in flight,
   * then close the channel. Stops reconnecting.
   */
  async close (): Promise<void> {
    if (this.stateValue === 'closed') return
    const wasReady = this.stateValue === 'ready' || this.stateValue === 'draining'
    this.setState('closed')
    this.clearTimers()
    const channel = this.channel
    if (channel !== null && wasReady) {
      channel.send(encodeGoodbye({ reason: 'shutdown' }, this.version)).catch(() => {})
      if (this.pending.size > 0) {
        await new Promise<void>((resolve) => {
          const check = (): void => { if (this.pending.size === 0) resolve() }
          this.on('load', check)
          this.closeWaiters.push(() => { this.removeListener('load', check); resolve() })
          check()
        })
      }
    }
    this.dropChannel(new ERR_HANDOFF_SENDER_CLOSED(), 'doubt')
    this.wake()
    this.emit('close')
  }

  /** Closes the channel now; handoffs in flight become 'doubt' (§7, sender 8). */
  destroy (): void {
    if (this.stateValue === 'closed') return
    this.setState('closed')
    this.clearTimers()
    this.dropChannel(new ERR_HANDOFF_SENDER_CLOSED(), 'doubt')
    this.wake()
    this.emit('close')
  }

  // ---------------------------------------------------------------------------

  private readonly closeWaiters: Array<() => void> = []

  private setState (state: LinkState): void {
    this.stateValue = state
    if (state !== 'connecting') this.rejoining = false
    if (state !== 'connecting') this.wake()
  }

  private wake (): void {
    for (const resolve of this.waiters.splice(0)) resolve()
  }

  private allocateId (): number {
    for (;;) {
      const id = this.nextId
      this.nextId = this.nextId >= 0xFFFFFFFF ? 1 : this.nextId + 1
      if (!this.pending.has(id)) return id
    }
  }

  /**
   * Gives the handoff up at deadline + grace by the host's clock (the one the
   * receiver checks the deadline against), but only after one more turn of
   * the event loop's poll phase, so that a verdict already waiting in the
   * channel is read first.
   */
  private armTimer (pending: Pending, giveUpAt: number, budget: number, startedAt: number): NodeJS.Timeout {
    const delay = Math.max(1, giveUpAt - Date.now())
    return setTimeout(() => {
      setImmediate(() => {
        if (this.pending.get(pending.id) !== pending) return
        const now = Date.now()
        // The wall clock went back: wait for it (the receiver reads the same
        // clock), within reason.
        if (now < giveUpAt && now - startedAt < 3 * budget) {
          pending.timer = this.armTimer(pending, giveUpAt, budget, startedAt)
          return
        }
        this.responsiveValue = false
        this.rememberGivenUp(pending.id, pending.deadline)
        this.settle(pending.id, { outcome: 'timeout', error: new ERR_HANDOFF_VERDICT_TIMEOUT(this.label, budget) })
        this.emit('warning', new ERR_HANDOFF_RECEIVER_UNRESPONSIVE(this.label))
        this.maybeRecycle()
      })
    }, delay)
  }

  private rememberGivenUp (id: number, deadline: number): void {
    this.givenUp.set(id, deadline)
    if (this.givenUp.size > GIVEN_UP_MEMORY) {
      const oldest = this.givenUp.keys().next().value as number
      this.givenUp.delete(oldest)
    }
  }

  private settle (id: number, verdict: Verdict): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return
    this.pending.delete(id)
    if (pending.timer !== null) clearTimeout(pending.timer)
    verdict.id = id
    pending.resolve(verdict)
    if (this.pending.size === 0) {
      this.emit('load', this.load)
      this.maybeRecycle()
    }
  }

  /**
   * A receiver that went silent (a verdict timed out), or said GOODBYE, gets a
   * fresh channel once nothing is in flight on the old one (closing it earlier
   * could discard verdicts not read yet: §7, sender 8).
   */
  private maybeRecycle (): void {
    if (this.pending.size > 0 || this.channel === null) return
    if (this.stateValue === 'draining' && this.handingOver) {
      this.handingOver = false
      this.dropChannel(new Error('the receiver handed its socket over to a new sibling'), 'lost', false)
      this.start()
      this.rejoining = (this.stateValue as LinkState) === 'connecting' // start() changed it
      return
    }
    if (this.stateValue === 'draining' || (this.stateValue === 'ready' && !this.responsiveValue)) {
      this.dropChannel(this.stateValue === 'draining'
        ? new ERR_HANDOFF_RECEIVER_DRAINING(this.label)
        : new ERR_HANDOFF_RECEIVER_UNRESPONSIVE(this.label), 'lost')
      this.scheduleReconnect()
    }
  }

  private async connect (): Promise<void> {
    let fd: number
    try {
      fd = await connectUnix(this.address, { timeout: this.helloTimeout })
    } catch (err) {
      this.failed(err as Error)
      return
    }
    if (this.stateValue !== 'connecting') {
      closeFds([fd])
      return
    }
    const distrust = this.distrust(fd)
    if (distrust !== null) {
      // Nothing was written, and no watcher was put on it: a plain close.
      // The usual backoff follows (our receiver may come back to its name).
      closeFds([fd])
      this.failed(distrust)
      return
    }
    let channel: Channel
    try {
      channel = new Channel(fd, protocolFramer, { frameTimeout: this.frameTimeout })
    } catch (err) {
      closeFds([fd])
      this.failed(err as Error)
      return
    }
    this.channel = channel
    this.version = PROTOCOL_VERSION
    channel.unref()
    channel.on('message', (frame, fds) => this.onFrame(channel, frame, fds))
    channel.on('frameError', (err, frame) => this.onFrameError(channel, err, frame))
    channel.on('frameTimeout', (err) => this.fatal(channel, 'timeout', err))
    channel.on('error', (err) => this.onChannelError(channel, err))
    channel.on('close', () => this.onChannelClose(channel))
    channel.send(encodeHello({
      role: 'sender',
      pid: process.pid,
      version: MAX_PROTOCOL_VERSION,
      minVersion: MIN_PROTOCOL_VERSION,
      ...(this.helloName === undefined ? {} : { name: this.helloName })
    }))
      .catch(() => { /* the channel's own 'error'/'close' say what happened */ })
    this.helloTimer = setTimeout(() => {
      this.helloTimer = null
      this.fatal(channel, 'timeout', new ERR_HANDOFF_HELLO_TIMEOUT(this.helloTimeout))
    }, this.helloTimeout)
    this.helloTimer.unref()
  }

  /**
   * Why the process listening at the address must not get our connections,
   * or null if the policy allows it. The kernel's credentials of the
   * listener (the process that called listen()) are the only proof: anyone
   * may bind an abstract name, or a path in a directory others can write,
   * before our receiver does or after it crashed.
   */
  private distrust (fd: number): Error | null {
    let creds: PeerCredentials
    try {
      creds = binding.peerCredentials(fd)
    } catch (err) {
      return err as Error // who it is cannot be told: not trusted either
    }
    if (this.policy.allows(creds)) return null
    const err = Object.assign(
      new ERR_HANDOFF_UNTRUSTED_RECEIVER(this.label, creds.uid, creds.gid, creds.pid, this.policy.describe()),
      { receiver: { pid: creds.pid, uid: creds.uid, gid: creds.gid } })
    // Reported once per squatter, not on every reconnect that finds it again
    // (a log line each backoff would flood); health() always says it.
    const key = `${creds.uid}:${creds.gid}:${creds.pid}`
    if (key !== this.untrustedKey) {
      this.untrustedKey = key
      this.emit('untrusted', err, creds)
    }
    return err
  }

  private failed (err: Error): void {
    this.lastError = err
    this.failures++
    if (this.stateValue === 'closed') return
    this.setState('down')
    this.emit('down', err)
    this.scheduleReconnect()
  }

  private scheduleReconnect (): void {
    if (this.stateValue === 'closed' || this.reconnectTimer !== null) return
    if (this.stateValue !== 'down') this.setState('down')
    const base = Math.min(this.backoffMax, this.backoffMin * 2 ** Math.min(this.failures, 16))
    const delay = Math.round(base / 2 + Math.random() * base / 2)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.start()
    }, delay)
    this.reconnectTimer.unref()
  }

  /**
   * A whole frame whose descriptors did not match its header (the channel has
   * closed them) is processed as if none had come (§9): dropping it would
   * lose a verdict, and an ACCEPT lost that way leaves us answering, at
   * deadline + grace, a connection the receiver owns. Descriptors alone, or
   * a frame cut by the end of the channel, only warn.
   */
  private onFrameError (channel: Channel, err: Error, frame: Buffer): void {
    this.emit('warning', err)
    if (frame.length >= HEADER_SIZE && !(err instanceof ERR_HANDOFF_CHANNEL_ENDED)) this.onFrame(channel, frame, [])
  }

  private onFrame (channel: Channel, frame: Buffer, fds: number[]): void {
    if (channel !== this.channel) {
      closeFds(fds)
      return
    }
    // No frame to a sender carries descriptors (§9): close any that came.
    if (fds.length > 0) closeFds(fds)
    // The channel's framer has checked the header: byte 3 is a valid type.
    const misplaced = outOfPlace(frame[3] as FrameType, 'sender', this.stateValue !== 'connecting')
    if (misplaced !== null) {
      this.fatal(channel, 'unexpected-frame', protocolError('unexpected-frame', misplaced, { fatal: true }))
      return
    }
    let message: Message
    try {
      message = decodeMessage(frame, { version: this.version })
    } catch (err) {
      this.fatal(channel, isProtocolError(err) ? err.reason as ErrorReason : 'internal', err as Error)
      return
    }
    // The receiver wrote: it is alive.
    this.responsiveValue = true
    if (this.stateValue === 'connecting') {
      this.onHello(channel, message)
      return
    }
    switch (message.type) {
      case FrameType.Accept: {
        const { live, max } = message.body
        this.loadValue = { ...this.loadValue, live, max }
        if (!this.pending.has(message.id)) {
          if (this.givenUp.has(message.id)) {
            this.givenUp.delete(message.id)
            this.emit('violation', new ERR_HANDOFF_LATE_ACCEPT(this.label, message.id))
          }
          return
        }
        this.settle(message.id, { outcome: 'accepted', live, max })
        return
      }
      case FrameType.Reject: {
        this.givenUp.delete(message.id)
        const { reason, message: text, retryable } = message.body
        this.settle(message.id, { outcome: 'rejected', reason, message: text, retryable })
        return
      }
      case FrameType.Status:
        this.loadValue = { ...message.body }
        this.emit('load', this.load)
        return
      case FrameType.Goodbye:
        // No more handoffs here; the verdicts in flight still come (§6.6).
        // Reconnecting to a receiver that drains only gets another GOODBYE:
        // count it as a failure, so that the reconnects back off. "handover"
        // (PROTOCOL.md §12): the path names a new sibling now: reconnect
        // at once, and let handoffs wait for it rather than fall back.
        if (message.body.reason === 'handover') this.handingOver = true
        else this.failures++
        this.setState('draining')
        this.loadValue = { ...this.loadValue, draining: true }
        this.emit('load', this.load)
        this.maybeRecycle()
        return
      case FrameType.Error:
        // The receiver closes right after; every verdict it wrote was read.
        this.lastError = new ERR_HANDOFF_PEER_ERROR('receiver', message.body.reason, message.body.message)
        this.dropChannel(this.lastError, 'lost')
        this.scheduleReconnect()
        break
      default:
        // HELLO again, or HANDOFF: caught by outOfPlace() before decoding.
    }
  }

  private onHello (channel: Channel, message: Message): void {
    if (message.type !== FrameType.Hello) return // caught by outOfPlace() before decoding
    try {
      this.version = negotiateHello({ role: 'sender', version: MAX_PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION }, message.body)
    } catch (err) {
      this.fatal(channel, isProtocolError(err) ? err.reason as ErrorReason : 'internal', err as Error)
      return
    }
    if (this.helloTimer !== null) {
      clearTimeout(this.helloTimer)
      this.helloTimer = null
    }
    this.peerMaxFrameSize = message.body.maxFrameSize
    this.receiverHello = message.body.name === undefined
      ? { pid: message.body.pid }
      : { name: message.body.name, pid: message.body.pid }
    this.failures = 0
    this.untrustedKey = undefined
    this.connectedAt = Date.now()
    this.responsiveValue = true
    this.loadValue = { live: 0, max: null, draining: false }
    this.setState('ready')
    this.emit('ready')
  }

  /** We drop the channel for the receiver's fault: ERROR, then close (§9). */
  private fatal (channel: Channel, reason: ErrorReason, err: Error): void {
    if (channel !== this.channel) return
    this.lastError = err
    this.emit('warning', err)
    channel.send(encodeError({ reason, message: err.message.slice(0, 1000) }, this.version)).catch(() => {})
    // Verdicts after the bad frame can no longer be read: in doubt.
    this.dropChannel(err, 'doubt')
    this.failures++
    this.scheduleReconnect()
  }

  private onChannelError (channel: Channel, err: Error): void {
    if (channel !== this.channel) return
    this.lastError = err
    // A bad header from the receiver: what follows cannot be read (doubt).
    // A socket error is reported only once every byte before it was read.
    this.dropChannel(err, isProtocolError(err) ? 'doubt' : 'lost')
    this.failures++
    this.scheduleReconnect()
  }

  private onChannelClose (channel: Channel): void {
    if (channel !== this.channel) return
    // End of stream: everything the receiver wrote has been read.
    const err = this.lastError ?? new ERR_HANDOFF_PEER_CLOSED('receiver')
    this.dropChannel(err, 'lost')
    if (this.stateValue !== 'closed') {
      this.failures++
      this.scheduleReconnect()
    }
  }

  private dropChannel (err: Error, outcome: 'lost' | 'doubt', report = true): void {
    const channel = this.channel
    this.channel = null
    if (this.helloTimer !== null) {
      clearTimeout(this.helloTimer)
      this.helloTimer = null
    }
    if (channel !== null) channel.close()
    for (const id of [...this.pending.keys()]) {
      this.settle(id, outcome === 'lost'
        ? { outcome: 'lost', error: new ERR_HANDOFF_RECEIVER_LOST(this.label, err.message) }
        : { outcome: 'doubt', error: err })
    }
    for (const resolve of this.closeWaiters.splice(0)) resolve()
    this.loadValue = { live: 0, max: null, draining: false }
    this.responsiveValue = true
    if (this.stateValue === 'ready' || this.stateValue === 'draining' || this.stateValue === 'connecting') {
      this.setState('down')
      if (report) this.emit('down', err)
    }
  }

  private clearTimers (): void {
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer)
      this.reconnectTimer = null
    }
    if (this.helloTimer !== null) {
      clearTimeout(this.helloTimer)
      this.helloTimer = null
    }
  }
}
