// One sender's channel, from the receiver's side: the HELLO exchange, the
// frames that follow, and the verdicts going back (PROTOCOL.md §5–§9). It
// knows nothing of sockets or servers: every HANDOFF goes to the host, which
// answers through accept() or reject() exactly once.
import { EventEmitter } from 'node:events'
import { Channel, closeFds } from '../channel.js'
import type { PeerCredentials } from '../native.js'
import {
  FrameType, HEADER_SIZE, MAX_HANDOFF_FRAME_SIZE, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION, createFramer,
  checkFrameVersion, decodeHeader, decodeMessage, negotiateHello, outOfPlace, checkDescriptors, isProtocolError,
  encodeHello, encodeAccept, encodeReject, encodeStatus, encodeGoodbye, encodeError,
  type Accept, type ErrorReason, type GoodbyeReason, type Reason, type HandoffRequest, type Hello, type Message,
  type RejectReason, type Status, protocolError, type StatusReport, type StatusRequest, encodeStatusReport
} from '../protocol/index.js'
import {
  ERR_HANDOFF_CHANNEL_CLOSED, ERR_HANDOFF_CHANNEL_ENDED, ERR_HANDOFF_FDS_TRUNCATED, ERR_HANDOFF_HELLO_TIMEOUT, ERR_HANDOFF_PEER_ERROR
} from '../errors.js'
import { rejection, type Rejection } from './rejection.js'
import { stageChannel } from '../trace.js'

export interface PeerHost {
  /** Must answer with peer.accept(id) or peer.reject(id) exactly once, and own `fd` from now on. Never throws. */
  handoff (peer: Peer, id: number, request: HandoffRequest, fd: number): void
  /** A HANDOFF rejected before it reached handoff() (descriptors, layout, metadata): answer with peer.reject(). */
  reject (peer: Peer, id: number, decision: Rejection, request?: HandoffRequest): void
  status (): Status
  /**
   * The peer is an observer (its first frame was a STATUS_REQUEST, §13), not
   * a sender: the host stops counting it as one and returns the report.
   */
  answerStatus (peer: Peer, request: StatusRequest): StatusReport
  readonly draining: boolean
  readonly helloTimeout: number
  /** ms a frame may take from its first byte to its last (ChannelOptions.frameTimeout). */
  readonly frameTimeout: number
  readonly name?: string
}

/** Who a peer is, for logs and events. */
export interface PeerIdentity {
  pid: number
  uid: number
  gid: number
  /** The name from its HELLO, once known. */
  name?: string
}

export interface PeerEvents {
  /** The HELLOs were exchanged: HANDOFFs may come. */
  ready: []
  /** The peer is being dropped because of `err` (a protocol violation, a timeout, a channel failure). */
  error: [err: Error]
  /** A frame problem that did not cost the peer its channel (descriptors that belonged to no frame). */
  warning: [err: Error]
  close: []
}

type State = 'hello' | 'ready' | 'closing' | 'closed'

/**
 * The largest frame a receiver takes, advertised in its HELLO: the largest
 * HANDOFF the section limits allow (655,388 bytes; every other frame is
 * smaller still). A larger HANDOFF could only be rejected for a section over
 * its limit, so asking for no more costs a valid sender nothing, and caps
 * what a peer can make us hold for one partial frame well below the
 * protocol's default 1 MiB.
 */
export const RECEIVER_MAX_FRAME_SIZE = MAX_HANDOFF_FRAME_SIZE
const receiverFramer = createFramer(RECEIVER_MAX_FRAME_SIZE)

export class Peer extends EventEmitter<PeerEvents> {
  readonly credentials: PeerCredentials
  hello: Hello | null = null
  /** The channel's protocol version (§5): 1 until the HELLOs agree on one; every frame we write and read after them carries it. */
  version = PROTOCOL_VERSION
  private readonly host: PeerHost
  private readonly channel: Channel
  private state: State = 'hello'
  private helloTimer: NodeJS.Timeout | null = null
  /** Ids whose verdict is not in the kernel yet: a HANDOFF reusing one is "duplicate-id". */
  private readonly undecided = new Set<number>()
  /** Frames queued on the channel and not yet completely in the kernel. */
  private unsent = 0
  /** end() waiting for `unsent` to reach 0. */
  private flushed: (() => void) | null = null
  private saidGoodbye = false
  /** The load this sender last heard from us (ACCEPT or STATUS), so STATUS repeats nothing. */
  private told: Status | null = null

  /** Takes ownership of `fd`, a connected AF_UNIX socket whose credentials were already checked. */
  constructor (fd: number, credentials: PeerCredentials, host: PeerHost) {
    super()
    this.credentials = credentials
    this.host = host
    this.channel = new Channel(fd, receiverFramer, { frameTimeout: host.frameTimeout })
    this.channel.on('message', (frame, fds) => this.onFrame(frame, fds))
    this.channel.on('frameError', (err, frame) => this.onFrameError(err, frame))
    // The channel has stopped reading and closed the partial frame's descriptors.
    this.channel.on('frameTimeout', (err) => this.fail('timeout', err))
    this.channel.on('error', (err) => this.onChannelError(err))
    this.channel.on('close', () => this.onClose())
  }

  get identity (): PeerIdentity {
    const { pid, uid, gid } = this.credentials
    return this.hello?.name === undefined ? { pid, uid, gid } : { pid, uid, gid, name: this.hello.name }
  }

  get ready (): boolean { return this.state === 'ready' }
  get closed (): boolean { return this.state === 'closed' }

  /** Sends our HELLO (each side sends its own at once, §5) and waits for the peer's. */
  start (): void {
    this.send(encodeHello({
      role: 'receiver',
      pid: process.pid,
      maxFrameSize: RECEIVER_MAX_FRAME_SIZE,
      version: MAX_PROTOCOL_VERSION,
      minVersion: MIN_PROTOCOL_VERSION,
      ...(this.host.name === undefined ? {} : { name: this.host.name })
    }))
    const timeout = this.host.helloTimeout
    this.helloTimer = setTimeout(() => {
      this.fail('timeout', new ERR_HANDOFF_HELLO_TIMEOUT(timeout))
    }, timeout)
    this.helloTimer.unref()
  }

  /**
   * Queues ACCEPT; `done(null)` once it is completely in the channel (the
   * sender will read it before any end of the stream), or `done(err)` with
   * what kept it from getting there (then the sender owns the connection,
   * §7). `done` runs synchronously when the kernel takes the frame at once
   * (the usual case), so the connection is served in the same turn.
   */
  accept (id: number, load: Accept, done: (err: Error | null) => void): void {
    this.told = { live: load.live, max: load.max, draining: this.told?.draining ?? false }
    this.verdict(id, encodeAccept(id, load, this.version), done)
  }

  reject (id: number, decision: Rejection): void {
    this.verdict(id, encodeReject(id, { reason: decision.reason, message: decision.message, retryable: decision.retryable }, this.version))
  }

  /**
   * Reports the load, unless this sender already knows it: an ACCEPT carries
   * the same figures, so the STATUS that follows one would only repeat them
   * (one frame less per handoff on the hot path).
   */
  sendStatus (status: Status): void {
    if (this.state !== 'ready' || this.saidGoodbye) return
    const told = this.told
    if (told !== null && told.live === status.live && told.max === status.max && told.draining === status.draining) return
    this.told = { ...status }
    this.send(encodeStatus(status, this.version))
  }

  /** "I will accept no more handoffs" (§6.6). The sender closes the channel once it has nothing in flight. */
  goodbye (reason: Reason<GoodbyeReason>, message = ''): void {
    if (this.state !== 'ready' || this.saidGoodbye) return
    this.saidGoodbye = true
    this.send(encodeGoodbye({ reason, message }, this.version))
  }

  /**
   * Closes the channel once what we queued is in the kernel, or after
   * frameTimeout: a peer that reads nothing for that long is stalling, as a
   * peer that sends half a frame for that long is (one deadline for both).
   */
  end (): void {
    if (this.state === 'closed' || this.state === 'closing') return
    this.state = 'closing'
    this.clearHelloTimer()
    this.channel.pause()
    if (this.unsent === 0) {
      this.channel.close()
      return
    }
    const timer = setTimeout(() => this.channel.close(), this.host.frameTimeout)
    timer.unref()
    this.flushed = () => {
      clearTimeout(timer)
      this.channel.close()
    }
  }

  /** Closes the channel now. */
  destroy (): void {
    this.clearHelloTimer()
    this.channel.close()
  }

  // ---------------------------------------------------------------------------

  /**
   * Queues `frame`; `done` (optional) gets null once it is completely in the
   * kernel, or the error that stopped it (the channel failed or closed: its
   * 'error' and 'close' handlers deal with the peer itself).
   */
  private send (frame: Buffer, done?: (err: Error | null) => void): void {
    this.unsent++
    this.channel.sendWithCallback(frame, [], (err) => {
      if (--this.unsent === 0 && this.flushed !== null) {
        const flushed = this.flushed
        this.flushed = null
        flushed()
      }
      done?.(err ?? null)
    })
  }

  private verdict (id: number, frame: Buffer, done?: (err: Error | null) => void): void {
    if (this.state === 'closed') {
      done?.(new ERR_HANDOFF_CHANNEL_CLOSED())
      return
    }
    this.undecided.add(id)
    this.send(frame, (err) => {
      this.undecided.delete(id)
      done?.(err)
    })
  }

  private fail (reason: ErrorReason, err: Error): void {
    if (this.state === 'closed' || this.state === 'closing') return
    this.emit('error', err)
    this.send(encodeError({ reason, message: err.message.slice(0, 1000) }, this.version))
    this.end()
  }

  private onFrame (frame: Buffer, fds: number[]): void {
    if (this.state !== 'hello' && this.state !== 'ready') {
      closeFds(fds)
      return
    }
    // The channel's framer has checked the header: byte 3 is a valid type.
    const misplaced = outOfPlace(frame[3] as FrameType, 'receiver', this.state === 'ready')
    if (misplaced !== null) {
      closeFds(fds)
      this.fail('unexpected-frame', protocolError('unexpected-frame', misplaced, { fatal: true }))
      return
    }
    let message: Message
    try {
      message = decodeMessage(frame, { fds: fds.length, version: this.version })
    } catch (err) {
      closeFds(fds)
      if (isProtocolError(err) && !err.fatal && err.id !== undefined && err.id !== 0 && this.state === 'ready') {
        this.rejectBadFrame(err.id, err.reason as RejectReason, err.message)
      } else {
        this.fail(isProtocolError(err) ? err.reason as ErrorReason : 'internal', err as Error)
      }
      return
    }
    if (this.state === 'hello') {
      if (message.type === FrameType.StatusRequest) this.onStatusRequest(message.body, fds)
      else this.onHello(message, fds)
      return
    }
    switch (message.type) {
      case FrameType.Handoff:
        if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'decoded', port: message.body.meta.remotePort })
        if (this.undecided.has(message.id)) {
          closeFds(fds)
          this.fail('duplicate-id', protocolError('duplicate-id', `HANDOFF ${message.id} reuses the id of a handoff still in flight`,
            { fatal: true, id: message.id }))
          return
        }
        this.host.handoff(this, message.id, message.body, fds[0])
        return
      case FrameType.Goodbye:
        // "I will send no more handoffs": every one it sent was answered when
        // it arrived, so close once those answers are out.
        this.end()
        return
      case FrameType.Error:
        this.emit('error', new ERR_HANDOFF_PEER_ERROR('sender', message.body.reason, message.body.message))
        this.destroy()
        return
      default:
        // A second HELLO, or a type only a receiver sends: caught by outOfPlace() before decoding.
        closeFds(fds)
    }
  }

  private onHello (message: Message, fds: number[]): void {
    closeFds(fds)
    if (message.type !== FrameType.Hello) return // caught by outOfPlace() before decoding
    try {
      this.version = negotiateHello({ role: 'receiver', version: MAX_PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION }, message.body)
    } catch (err) {
      this.fail(isProtocolError(err) ? err.reason as ErrorReason : 'internal', err as Error)
      return
    }
    this.clearHelloTimer()
    this.hello = message.body
    this.state = 'ready'
    this.sendStatus(this.host.status())
    this.emit('ready')
    if (this.host.draining) this.goodbye('draining', 'the receiver is draining')
  }

  /**
   * An observer's query, in place of a HELLO (§13): one STATUS_REPORT after
   * our HELLO, then the channel closes. It never becomes 'ready', so it can
   * hand off nothing; whatever it sends after the request is never read.
   */
  private onStatusRequest (request: StatusRequest, fds: number[]): void {
    closeFds(fds)
    this.clearHelloTimer()
    this.send(encodeStatusReport(this.host.answerStatus(this, request)))
    this.end()
  }

  /** A HANDOFF the codec found bad: the host counts and reports it, and answers through reject(). */
  private rejectBadFrame (id: number, reason: RejectReason, message: string): void {
    this.host.reject(this, id, rejection(reason, message.slice(0, 1000)))
  }

  /**
   * A well-delimited frame whose descriptors did not match (the channel has
   * closed them). A HANDOFF gets a REJECT with the descriptor reason; any
   * other frame is processed as if no descriptor had come (§9); descriptors
   * that belonged to no frame cost nothing more than a warning.
   */
  private onFrameError (err: Error, frame: Buffer): void {
    if (this.state !== 'hello' && this.state !== 'ready') return
    if (err instanceof ERR_HANDOFF_CHANNEL_ENDED) return // the peer went away mid-frame: nothing to answer
    if (frame.length < HEADER_SIZE) {
      this.emit('warning', err)
      return
    }
    let header
    try {
      header = decodeHeader(frame)
      // A frame of another version is fatal before its descriptors are looked at (§9: the header first).
      checkFrameVersion(header, this.version)
    } catch (headerErr) {
      this.fail(isProtocolError(headerErr) ? headerErr.reason as ErrorReason : 'bad-frame', headerErr as Error)
      return
    }
    // Anything but a HANDOFF in its place is processed as if no descriptor had
    // come (onFrame catches what is out of place).
    if (header.type !== FrameType.Handoff || outOfPlace(header.type, 'receiver', this.state === 'ready') !== null) {
      this.onFrame(frame, [])
      return
    }
    const truncated = err instanceof ERR_HANDOFF_FDS_TRUNCATED
    const arrived = truncated ? 0 : ((err as { received?: number }).received ?? 0)
    let reason: RejectReason = truncated ? 'descriptors-truncated' : 'descriptors-missing'
    try {
      checkDescriptors(header, arrived, truncated)
    } catch (descriptorErr) {
      if (isProtocolError(descriptorErr)) reason = descriptorErr.reason as RejectReason
    }
    this.rejectBadFrame(header.id, reason, err.message)
  }

  private onChannelError (err: Error): void {
    // Fatal for this channel only (a bad header, a socket error): the channel
    // has closed itself, so there is no ERROR frame to send.
    if (this.state === 'closed') return
    this.emit('error', err)
  }

  private onClose (): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.clearHelloTimer()
    this.undecided.clear()
    this.emit('close')
  }

  private clearHelloTimer (): void {
    if (this.helloTimer !== null) {
      clearTimeout(this.helloTimer)
      this.helloTimer = null
    }
  }
}
