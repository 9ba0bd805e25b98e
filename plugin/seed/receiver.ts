// Go's `Recv()` over a Channel in the Go format: descriptors come out one at
// a time, in the order they arrived. A bad message (a byte without a
// descriptor, with several, descriptors cut off by MSG_CTRUNC) comes out as a
// rejected recv() in its place; its descriptors are already closed and the
// next recv() goes on with the next message.
import type { Channel } from '../channel.js'
import { closeFds } from '../channel.js'
import { ERR_HANDOFF_CHANNEL_CLOSED } from '../errors.js'

type Entry = { fd: number } | { error: Error }

interface Waiter {
  resolve: (fd: number) => void
  reject: (err: Error) => void
}

export interface FdReceiverOptions {
  /** Received entries kept before the channel stops reading (default 16). */
  highWaterMark?: number
}

export class FdReceiver {
  readonly channel: Channel
  private readonly queue: Entry[] = []
  private readonly waiters: Waiter[] = []
  private readonly highWaterMark: number
  private paused = false
  private ended = false

  /** Takes over `channel` (a Channel built with `seedFramer`): its events are consumed here. */
  constructor (channel: Channel, options: FdReceiverOptions = {}) {
    this.channel = channel
    this.highWaterMark = options.highWaterMark ?? 16
    channel.on('message', (_frame, fds) => this.push({ fd: fds[0] }))
    channel.on('frameError', (err) => this.push({ error: err }))
    // A fatal channel error closes the channel: report it once, then 'closed'.
    channel.on('error', (err) => this.push({ error: err }))
    channel.on('close', () => this.end())
    if (channel.closed) this.end()
  }

  /** Whether the channel closed and every received entry was taken. */
  get done (): boolean { return this.ended && this.queue.length === 0 }

  /**
   * The next descriptor (the caller owns it). Rejects with the error of a bad
   * message in its place (the receiver goes on), and with
   * ERR_HANDOFF_CHANNEL_CLOSED once the channel closed and nothing is left.
   */
  recv (): Promise<number> {
    return new Promise((resolve, reject) => {
      const entry = this.queue.shift()
      if (entry !== undefined) {
        settle(entry, resolve, reject)
        this.maybeResume()
      } else if (this.ended) {
        reject(new ERR_HANDOFF_CHANNEL_CLOSED())
      } else {
        this.waiters.push({ resolve, reject })
      }
    })
  }

  /** Closes the channel, every descriptor received but not taken, and rejects pending recv() calls. */
  close (): void {
    this.channel.close()
    for (const entry of this.queue.splice(0)) if ('fd' in entry) closeFds([entry.fd])
    this.end()
  }

  private push (entry: Entry): void {
    const waiter = this.waiters.shift()
    if (waiter !== undefined) {
      settle(entry, waiter.resolve, waiter.reject)
      return
    }
    if (this.ended) {
      if ('fd' in entry) closeFds([entry.fd])
      return
    }
    this.queue.push(entry)
    if (!this.paused && this.queue.length >= this.highWaterMark) {
      this.paused = true
      this.channel.pause()
    }
  }

  private maybeResume (): void {
    if (this.paused && this.queue.length < this.highWaterMark) {
      this.paused = false
      this.channel.resume()
    }
  }

  /** No more entries will come: pending recv() calls (the queue is empty when any wait) are rejected. */
  private end (): void {
    if (this.ended) return
    this.ended = true
    for (const waiter of this.waiters.splice(0)) waiter.reject(new ERR_HANDOFF_CHANNEL_CLOSED())
  }
}

function settle (entry: Entry, resolve: (fd: number) => void, reject: (err: Error) => void): void {
  if ('fd' in entry) resolve(entry.fd)
  else reject(entry.error)
}
