// The Go design's wire format: every message is ONE byte carrying ONE
// descriptor (SCM_RIGHTS), nothing else. Its `Send(fd)` wrote a dummy byte with
// the descriptor; its `Recv()` read one byte with a control buffer of
// CmsgSpace(4) and returned the single descriptor. The byte's value means
// nothing: we send 0x00 and accept any value.
import { Channel, type Framer } from '../channel.js'

/** The byte that carries each descriptor (its value is ignored on receipt). */
export const SEED_BYTE = 0x00

/**
 * Framer of the Go format: every byte is a whole frame declaring exactly one
 * descriptor. The Channel reports a byte that came without a descriptor, or
 * with more than one, as 'frameError' (ERR_HANDOFF_FD_MISMATCH) and closes
 * whatever descriptors came with it.
 */
export const seedFramer: Framer = Object.freeze({
  headerSize: 1,
  maxFrameSize: 1,
  parse (): { frameSize: number, fdCount: number } {
    return { frameSize: 1, fdCount: 1 }
  }
})

/** A Channel speaking the Go format on `fd` (a connected AF_UNIX stream socket; the Channel owns it). */
export function createSeedChannel (fd: number): Channel {
  return new Channel(fd, seedFramer)
}

const frame = Buffer.from([SEED_BYTE])

/**
 * Go's `Send(fd)`: one byte with `fd` attached. Resolves once the message is
 * in the kernel (the receiver has its own copy from then on: the caller may
 * close its copy, which does not end the connection).
 */
export function sendFd (channel: Channel, fd: number): Promise<void> {
  return channel.send(frame, [fd])
}
