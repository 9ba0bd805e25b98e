// Channel: whole frames and the descriptors that belong to each, over a
// connected AF_UNIX stream socket. This is the face of the native addon for
// messages; it knows nothing of what the frames mean (a Framer says only how
// long each one is and how many descriptors it declares).
import { EventEmitter } from 'node:events'
import { binding, type NativeChannel, type PeerCredentials } from './native.js'
import {
  ERR_HANDOFF_CHANNEL_CLOSED, ERR_HANDOFF_CHANNEL_ENDED, ERR_HANDOFF_FD_MISMATCH,
  ERR_HANDOFF_FDS_TRUNCATED, ERR_HANDOFF_FRAME_TIMEOUT, ERR_HANDOFF_ORPHAN_FDS, isSystemError
} from './errors.js'
import type { Framer } from './framer.js'
import { frameTooLarge, protocolError } from './protocol/errors.js'
import { stageChannel } from './trace.js'
import { EMPTY_BUFFER } from './empty.js'

export type { Framer }

export type SendCallback = (err?: Error | null) => void

/** Descriptors returned by one recvmsg, with the stream range of its bytes. */
/** A sendmsg failure from the addon: the socket can still be read to its end. */
interface WriteError extends Error {
  writeOnly?: boolean
}

interface FdBatch {
  start: number
  end: number
  fds: number[]
  truncated: boolean
}

interface CurrentFrame {
  start: number
  size: number
  fdCount: number
}

export interface ChannelOptions {
  /**
   * ms a frame may take from its first byte to its last (0: no limit). A
   * peer that stalls mid-frame holds our memory and the frame's descriptors;
   * see 'frameTimeout'.
   */
  frameTimeout?: number
}

export interface ChannelEvents {
  message: [frame: Buffer, fds: number[]]
  frameError: [err: Error, frame: Buffer]
  /**
   * A frame was not complete within `frameTimeout` (ERR_HANDOFF_FRAME_TIMEOUT).
   * The channel has stopped reading (as by pause()), dropped the partial
   * frame's bytes and closed its descriptors; writing still works, so the
   * owner can say why (ERROR "timeout") before it closes the channel.
   * Without a listener the channel fails ('error', then closed).
   */
  frameTimeout: [err: Error]
  error: [err: Error]
  end: []
  close: []
}

export function closeFds (fds: readonly number[]): void {
  for (const fd of fds) {
    try { binding.closeFd(fd) } catch { /* already gone: nothing left to release */ }
  }
}

export class Channel extends EventEmitter<ChannelEvents> {
  readonly framer: Framer
  private native: NativeChannel | null
  private readonly fdNumber: number
  private readonly callbacks: SendCallback[] = []
  private chunks: Buffer[] = []
  private buffered = 0
  /** Stream offset of the first byte in `chunks` (the start of the next frame). */
  private frameStart = 0
  private received = 0
  private batches: FdBatch[] = []
  private current: CurrentFrame | null = null
  /** pause(): no 'message' either, not only no reading. */
  private paused = false
  /** Whether the addon was told of descriptors waiting in `batches` (see syncHeld). */
  private heldInNative = false
  private readonly frameTimeout: number
  /** Armed while a frame is incomplete: the stream offset of that frame's first byte. */
  /** Set once a write failed: nothing more is sent; reading goes on to the end. */
  private writeError: Error | null = null
  private stallTimer: NodeJS.Timeout | null = null
  private stallOffset = -1
  /**
   * Set while the frames of one read are delivered: the replies they cause
   * (a receiver's ACCEPTs, one per HANDOFF) wait in `batch` and leave in one
   * sendmsg when the read is done. One write and one wake-up of the peer for
   * a read's worth of verdicts, instead of one each: under load each costs
   * more than the frame (BENCHMARKS.md, issue 14).
   */
  private batching = false
  private batch: Array<{ frame: Buffer, cb: SendCallback }> = []

  /** Takes ownership of `fd`, a connected AF_UNIX stream socket. */
  constructor (fd: number, framer: Framer, options: ChannelOptions = {}) {
    super()
    this.framer = framer
    this.fdNumber = fd
    this.frameTimeout = options.frameTimeout ?? 0
    this.native = new binding.NativeChannel(fd, {
      onRead: (data, reads) => this.onRead(data, reads),
      onWritten: (count) => this.complete(count),
      onError: (err) => { if ((err as WriteError).writeOnly === true) this.writeFailed(err); else this.fail(err) },
      onEnd: () => this.onEnd()
    })
  }

  /** A connected pair, e.g. for a child process (pass one end's fd with stdio). */
  static pair (framer: Framer): [Channel, Channel] {
    const [a, b] = binding.socketpair()
    return [new Channel(a, framer), new Channel(b, framer)]
  }

  get fd (): number { return this.native === null ? -1 : this.fdNumber }
  get closed (): boolean { return this.native === null }
  /** Frames queued in the addon, not yet fully in the kernel. */
  get pending (): number { return this.callbacks.length }

  peerCredentials (): PeerCredentials {
    if (this.native === null) throw new ERR_HANDOFF_CHANNEL_CLOSED()
    return binding.peerCredentials(this.fdNumber)
  }

  /**
   * Queues a frame and its descriptors. The callback runs once the whole frame
   * is in the kernel: from then on the receiver has its own copies and the
   * caller may close `fds` (ownership still moves only on the peer's answer).
   */
  sendWithCallback (frame: Buffer, fds: readonly number[], cb: SendCallback): void {
    if (this.native === null) {
      process.nextTick(cb, new ERR_HANDOFF_CHANNEL_CLOSED())
      return
    }
    if (this.writeError !== null) {
      process.nextTick(cb, this.writeError)
      return
    }
    if (fds.length === 0 && this.batching) {
      this.batch.push({ frame, cb })
      return
    }
    // A frame with descriptors goes after what waits, in stream order.
    if (this.batch.length > 0) this.flushBatch()
    this.write(frame, fds, cb)
  }

  /** What waits in `batch`, as one message (its frames' callbacks in order). */
  private flushBatch (): void {
    const batch = this.batch
    this.batch = []
    if (batch.length === 0) return
    if (batch.length === 1) {
      this.write(batch[0].frame, [], batch[0].cb)
      return
    }
    this.write(Buffer.concat(batch.map((b) => b.frame)), [], (err) => {
      for (const b of batch) b.cb(err)
    })
  }

  /** Runs `deliver` with the replies it causes sent together at its end. */
  private batched (deliver: () => void): void {
    if (this.batching) return deliver()
    this.batching = true
    try {
      deliver()
    } finally {
      this.batching = false
      if (this.batch.length > 0) this.flushBatch()
    }
  }

  private write (frame: Buffer, fds: readonly number[], cb: SendCallback): void {
    const native = this.native
    if (native === null) {
      process.nextTick(cb, new ERR_HANDOFF_CHANNEL_CLOSED())
      return
    }
    if (this.writeError !== null) {
      process.nextTick(cb, this.writeError)
      return
    }
    this.callbacks.push(cb)
    let done: number
    try {
      done = native.send(frame, fds as number[])
    } catch (err) {
      this.callbacks.pop()
      const completed = (err as { completed?: number }).completed
      if (completed === undefined) {
        // Refused before queueing (a dead descriptor, bad arguments): only
        // this frame fails; the channel goes on.
        process.nextTick(cb, err)
        return
      }
      this.complete(completed)
      process.nextTick(cb, err)
      this.writeFailed(err as Error)
      return
    }
    if (done > 0) this.complete(done)
  }

  send (frame: Buffer, fds: readonly number[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sendWithCallback(frame, fds, (err) => { if (err) reject(err); else resolve() })
    })
  }

  ref (): this { this.native?.ref(); return this }
  unref (): this { this.native?.unref(); return this }
  /** Stops reading and delivering: no 'message' or 'frameError' until resume(). */
  pause (): this {
    this.paused = true
    this.native?.pause()
    // The frame cannot progress while we do not read: not the peer's stall.
    this.clearStallTimer()
    return this
  }

  resume (): this {
    if (this.native === null || !this.paused) return this
    this.paused = false
    this.native.resume()
    // Whole frames read before the pause are delivered first (the next read
    // would come after them anyway), on the next tick like a stream's resume().
    if (this.buffered > 0) process.nextTick(() => this.parse())
    return this
  }

  /**
   * Stops polling and closes every descriptor not yet delivered; 'close' is
   * emitted once the socket itself is closed (after libuv released it).
   */
  close (): void {
    // Replies of the read that closes it are written first, as they were
    // before they waited in a batch (a verdict is never dropped unsent).
    if (this.batch.length > 0) this.flushBatch()
    const native = this.native
    if (native === null) return
    this.native = null
    native.close(() => this.emit('close'))
    this.clearStallTimer()
    for (const batch of this.batches) closeFds(batch.fds)
    this.batches = []
    this.chunks = []
    this.buffered = 0
    const callbacks = this.callbacks.splice(0)
    for (const cb of callbacks) cb(new ERR_HANDOFF_CHANNEL_CLOSED())
  }

  private complete (count: number): void {
    if (count === 1) {
      (this.callbacks.shift() as SendCallback)(null)
      return
    }
    const done = this.callbacks.splice(0, count)
    for (const cb of done) cb(null)
  }

  /**
   * A write failed (the peer went, or shut its end): frames still queued
   * fail, no more can be sent, but reading goes on to the end of the stream.
   * What the peer wrote before it went (a verdict, an ERROR) is still
   * delivered, and only then is the error reported (PROTOCOL.md §7: a verdict
   * in the channel is never dropped unread because a write failed first).
   */
  private writeFailed (err: Error): void {
    if (this.native === null || this.writeError !== null) return
    this.writeError = err
    const callbacks = this.callbacks.splice(0)
    for (const cb of callbacks) process.nextTick(cb, err)
  }

  private fail (err: Error): void {
    if (this.native === null) return
    // After a failed write, reading on to the end may meet the same loss
    // again (ECONNRESET from recvmsg): the write's error, the first, is the
    // one reported. A protocol error found in what was read (a bad header)
    // is reported as itself: it says more (the rest cannot be read).
    this.emit('error', this.writeError !== null && isSystemError(err) ? this.writeError : err)
    this.close()
  }

  private onEnd (): void {
    if (this.buffered > 0) this.emit('frameError', new ERR_HANDOFF_CHANNEL_ENDED(), this.take(this.buffered))
    if (this.writeError !== null) {
      this.fail(this.writeError)
      return
    }
    this.emit('end')
    this.close()
  }

  /** One poll event's reads (see NativeChannelCallbacks.onRead for the layout of `reads`). */
  private onRead (data: Buffer, reads: number[]): void {
    if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'woken' })
    for (let i = 0; i < reads.length;) {
      const bytes = reads[i]
      const count = reads[i + 1]
      i += 2
      const start = this.received
      this.received += bytes
      if (count === 0) continue
      const fds = count > 0 ? reads.slice(i, i + count) : []
      if (count > 0) i += count
      this.batches.push({ start, end: this.received, fds, truncated: count < 0 })
    }
    if (data.length > 0) {
      this.chunks.push(data)
      this.buffered += data.length
    }
    this.batched(() => this.parse())
    if (this.heldInNative || this.batches.length > 0) this.syncHeld()
  }

  /**
   * Tells the addon which received descriptors wait in `batches` for the rest
   * of their frame, so that it closes them if the environment goes away first
   * (a worker exiting or terminated: no JS runs then). Told again before any
   * of them is handed out or closed, so the addon never closes one that is no
   * longer the channel's. Costs nothing while no descriptor waits.
   */
  private syncHeld (): void {
    const native = this.native
    if (native === null) return
    const fds: number[] = []
    for (const batch of this.batches) fds.push(...batch.fds)
    if (fds.length === 0 && !this.heldInNative) return
    native.hold(fds)
    this.heldInNative = fds.length > 0
  }

  private parse (): void {
    const { framer } = this
    while (this.native !== null && !this.paused) {
      if (this.current === null) {
        if (this.buffered < framer.headerSize) break
        let parsed: { frameSize: number, fdCount: number }
        try {
          parsed = framer.parse(this.peek(framer.headerSize))
          // A Framer is pluggable: a size that is no size would loop here forever.
          if (!Number.isInteger(parsed.frameSize) || parsed.frameSize < framer.headerSize) {
            throw protocolError('bad-frame', `the framer gave a frame size of ${String(parsed.frameSize)}, less than its header`,
              { fatal: true })
          }
          if (parsed.frameSize > framer.maxFrameSize) {
            throw frameTooLarge('frame', parsed.frameSize, framer.maxFrameSize, { fatal: true })
          }
        } catch (err) {
          this.fail(err as Error)
          return
        }
        this.current = { start: this.frameStart, size: parsed.frameSize, fdCount: parsed.fdCount }
        this.dropOrphans(this.frameStart)
      }
      const frame = this.current
      if (this.buffered < frame.size) break
      this.current = null
      this.frameStart += frame.size
      this.deliver(this.take(frame.size), frame, this.claimBatch(frame))
    }
    this.watchProgress()
  }

  /**
   * After each parse: a frame begun and not complete gets `frameTimeout`
   * from its first byte to complete (counted from the read that brought the
   * byte; the next frame starts its own count). Nothing to do, and no timer,
   * in the usual case of reads that end on a frame boundary.
   */
  private watchProgress (): void {
    if (this.frameTimeout <= 0) return
    if (this.native === null || this.paused || (this.buffered === 0 && this.batches.length === 0)) {
      this.clearStallTimer()
      return
    }
    if (this.stallTimer !== null && this.stallOffset === this.frameStart) return
    this.clearStallTimer()
    const offset = this.frameStart
    this.stallOffset = offset
    this.stallTimer = setTimeout(() => this.judgeStall(offset, this.received), this.frameTimeout)
    this.stallTimer.unref()
  }

  /**
   * The deadline passed: judged after one more poll phase, and again after
   * each phase that read more, so that bytes already waiting in the socket
   * (a loop that was busy, not a peer that stalled) are read before giving
   * up. A peer that sends nothing, or trickles, has nothing waiting.
   */
  private judgeStall (offset: number, received: number): void {
    setImmediate(() => {
      if (this.stallOffset !== offset || this.stallTimer === null) return
      if (this.received > received) {
        this.judgeStall(offset, this.received)
        return
      }
      this.stallTimer = null
      this.stalled()
    })
  }

  private clearStallTimer (): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer)
    this.stallTimer = null
    this.stallOffset = -1
  }

  /** The peer stalled mid-frame: stop reading, let go of the partial frame, tell the owner. */
  private stalled (): void {
    if (this.native === null) return
    const err = new ERR_HANDOFF_FRAME_TIMEOUT(this.frameTimeout)
    if (this.listenerCount('frameTimeout') === 0) {
      this.fail(err)
      return
    }
    this.pause()
    const batches = this.batches
    this.batches = []
    if (this.heldInNative) this.syncHeld()
    for (const batch of batches) closeFds(batch.fds)
    this.chunks = []
    this.buffered = 0
    this.current = null
    this.emit('frameTimeout', err)
  }

  // The descriptors of one recvmsg belong to the frame holding the last byte
  // that recvmsg returned, and that frame must begin within those bytes (the
  // sender writes a frame with descriptors in a sendmsg of its own; the kernel
  // ends a read at the end of the buffer that carried them). PROTOCOL.md says so.
  private claimBatch (frame: CurrentFrame): FdBatch | null {
    const batch = this.batches[0]
    if (batch === undefined || batch.end - 1 >= frame.start + frame.size) return null
    this.batches.shift()
    if (this.heldInNative) this.syncHeld()
    if (batch.start > frame.start) {
      // Arrived in the middle of the frame: it was not sent with it.
      closeFds(batch.fds)
      this.emit('frameError', new ERR_HANDOFF_ORPHAN_FDS(batch.fds.length), EMPTY_BUFFER)
      return null
    }
    return batch
  }

  /** Batches whose bytes all came before `offset` were claimed by no frame. */
  private dropOrphans (offset: number): void {
    while (this.batches.length > 0 && this.batches[0].end <= offset) {
      const batch = this.batches.shift() as FdBatch
      if (this.heldInNative) this.syncHeld()
      closeFds(batch.fds)
      this.emit('frameError', new ERR_HANDOFF_ORPHAN_FDS(batch.fds.length), EMPTY_BUFFER)
    }
  }

  private deliver (bytes: Buffer, frame: CurrentFrame, batch: FdBatch | null): void {
    const fds = batch?.fds ?? []
    if (batch?.truncated === true) {
      // The addon already closed what arrived of a truncated batch.
      this.emit('frameError', new ERR_HANDOFF_FDS_TRUNCATED(), bytes)
    } else if (fds.length !== frame.fdCount) {
      closeFds(fds)
      this.emit('frameError', Object.assign(new ERR_HANDOFF_FD_MISMATCH(frame.fdCount, fds.length),
        { declared: frame.fdCount, received: fds.length }), bytes)
    } else {
      this.emit('message', bytes, fds)
    }
  }

  private peek (size: number): Buffer {
    const first = this.chunks[0]
    if (first.length >= size) return first.subarray(0, size)
    const joined = Buffer.concat(this.chunks)
    this.chunks = [joined]
    return joined.subarray(0, size)
  }

  private take (size: number): Buffer {
    const head = this.peek(size)
    const first = this.chunks[0]
    if (first.length === size) this.chunks.shift()
    else this.chunks[0] = first.subarray(size)
    this.buffered -= size
    return head
  }
}
