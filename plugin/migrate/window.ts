// The client's compression window: the last 2^bits bytes the connection's
// inflater has output. With context takeover the client's next compressed
// message may refer back into them, so a new inflater needs them as its
// dictionary. Kept from the connection's first message on (a window that
// misses one inflated byte would make the new process decode garbage
// without any error), which is why it is opt-in: it costs 2^bits bytes of
// memory per compressed connection (32 KiB by default).
import { EMPTY_BUFFER } from '../empty.js'

export class CompressionWindow {
  readonly size: number
  private chunks: Buffer[] = []
  private length = 0

  constructor (bits: number) {
    this.size = 2 ** bits
  }

  push (data: Buffer): void {
    if (data.length === 0) return
    if (data.length >= this.size) {
      this.chunks = [Buffer.from(data.subarray(data.length - this.size))]
      this.length = this.size
      return
    }
    // Copied: the inflater's output buffer may be reused by the app.
    this.chunks.push(Buffer.from(data))
    this.length += data.length
    // Keep at most twice the window before compacting (amortised O(1) a byte).
    if (this.length >= 2 * this.size) this.compact()
  }

  /** The last `size` bytes (fewer when less has been inflated so far). */
  snapshot (): Buffer {
    this.compact()
    return this.chunks.length === 0 ? EMPTY_BUFFER : this.chunks[0]
  }

  private compact (): void {
    if (this.chunks.length === 0) return
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length)
    const kept = all.length > this.size ? Buffer.from(all.subarray(all.length - this.size)) : all
    this.chunks = [kept]
    this.length = kept.length
  }
}

/** The client's window bits from negotiated permessage-deflate params (15 when not limited). */
export function clientWindowBits (params: Record<string, unknown>): number {
  const bits = params.client_max_window_bits
  return typeof bits === 'number' && bits >= 8 && bits <= 15 ? bits : 15
}

/** Whether the client compresses each message on its own (no window needed). */
export function clientWithoutContext (params: Record<string, unknown>): boolean {
  return params.client_no_context_takeover === true
}
