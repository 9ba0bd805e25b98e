// The frame: a 16-byte header (big-endian) and a body. PROTOCOL.md, "Frames".
import {
  HEADER_SIZE, MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_FDS_PER_FRAME, FDS_PER_HANDOFF
} from './limits.js'
import { ERR_HANDOFF_INVALID_ARG, frameTooLarge, protocolError } from './errors.js'
import type { Framer } from '../framer.js'

export type { Framer }

/** "HO" */
export const MAGIC = 0x484f
/**
 * Version 1: the header version of every HELLO (and of an observer's
 * STATUS_REQUEST/STATUS_REPORT, §13), whatever the peers speak, and the
 * version every encoder and decoder of this codec uses unless told another:
 * code written against version 1 stays a correct version-1 peer.
 */
export const PROTOCOL_VERSION = 1
/** The lowest and highest versions this codec speaks (PROTOCOL.md §5, §14): what our own peers list in their HELLO. */
export const MIN_PROTOCOL_VERSION = 1
export const MAX_PROTOCOL_VERSION = 2
export const PROTOCOL_NAME = 'fastify-handoff'

export enum FrameType {
  Hello = 1,
  Handoff = 2,
  Accept = 3,
  Reject = 4,
  Status = 5,
  Goodbye = 6,
  Error = 7,
  // An observer's one-shot status query (PROTOCOL.md §13, the command-line tool).
  StatusRequest = 32,
  StatusReport = 33
}

export const FRAME_TYPE_NAMES: Readonly<Record<FrameType, string>> = {
  [FrameType.Hello]: 'HELLO',
  [FrameType.Handoff]: 'HANDOFF',
  [FrameType.Accept]: 'ACCEPT',
  [FrameType.Reject]: 'REJECT',
  [FrameType.Status]: 'STATUS',
  [FrameType.Goodbye]: 'GOODBYE',
  [FrameType.Error]: 'ERROR',
  [FrameType.StatusRequest]: 'STATUS_REQUEST',
  [FrameType.StatusReport]: 'STATUS_REPORT'
}

/**
 * Who may send each type. A frame received from the wrong role is
 * "unexpected-frame". An observer (a status query, §13) is neither role: it
 * sends STATUS_REQUEST instead of a HELLO, and only a receiver answers it.
 */
export const SENT_BY: Readonly<Record<FrameType, 'sender' | 'receiver' | 'both' | 'observer'>> = {
  [FrameType.Hello]: 'both',
  [FrameType.Handoff]: 'sender',
  [FrameType.Accept]: 'receiver',
  [FrameType.Reject]: 'receiver',
  [FrameType.Status]: 'receiver',
  [FrameType.Goodbye]: 'both',
  [FrameType.Error]: 'both',
  [FrameType.StatusRequest]: 'observer',
  [FrameType.StatusReport]: 'receiver'
}

/** Flag bits each type may set. Version 1 defines none: every flag bit must be 0. */
export const ALLOWED_FLAGS: Readonly<Record<FrameType, number>> = {
  [FrameType.Hello]: 0,
  [FrameType.Handoff]: 0,
  [FrameType.Accept]: 0,
  [FrameType.Reject]: 0,
  [FrameType.Status]: 0,
  [FrameType.Goodbye]: 0,
  [FrameType.Error]: 0,
  [FrameType.StatusRequest]: 0,
  [FrameType.StatusReport]: 0
}

export interface FrameHeader {
  version: number
  type: FrameType
  flags: number
  fdCount: number
  id: number
  bodyLength: number
}

export function isFrameType (value: number): value is FrameType {
  return Number.isInteger(value) && ((value >= FrameType.Hello && value <= FrameType.Error) ||
    value === FrameType.StatusRequest || value === FrameType.StatusReport)
}

/** HANDOFF, ACCEPT and REJECT name a handoff (id ≠ 0); the others concern the connection (id = 0). */
export function isHandoffLevel (type: FrameType): boolean {
  return type === FrameType.Handoff || type === FrameType.Accept || type === FrameType.Reject
}

function isUint32 (value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xFFFFFFFF
}

function checkMaxFrameSize (maxFrameSize: number): void {
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < MIN_MAX_FRAME_SIZE || maxFrameSize > MAX_MAX_FRAME_SIZE) {
    throw new ERR_HANDOFF_INVALID_ARG(
      `maxFrameSize must be an integer from ${MIN_MAX_FRAME_SIZE} to ${MAX_MAX_FRAME_SIZE}, got ${String(maxFrameSize)}`)
  }
}

/**
 * Builds a whole frame. Refuses (ERR_HANDOFF_INVALID_ARG) anything `decodeHeader`
 * would find fatal, so a frame it returns never makes a peer drop the channel;
 * a frame over `maxFrameSize` is a (not fatal) 'frame-too-large' protocol error.
 */
export function encodeFrame (type: FrameType, id: number, body: Buffer, fdCount = 0, flags = 0,
  maxFrameSize = MAX_FRAME_SIZE, version = PROTOCOL_VERSION): Buffer {
  if (!isFrameType(type)) throw new ERR_HANDOFF_INVALID_ARG(`unknown frame type ${String(type)}`)
  checkVersionArgument(type, version)
  checkFrameId(type, id)
  const expectedFds = type === FrameType.Handoff ? FDS_PER_HANDOFF : 0
  if (fdCount !== expectedFds) {
    throw new ERR_HANDOFF_INVALID_ARG(`${FRAME_TYPE_NAMES[type]} frames carry ${expectedFds} descriptor(s), not ${String(fdCount)}`)
  }
  if (!Number.isInteger(flags) || (flags & ~ALLOWED_FLAGS[type]) !== 0 || flags < 0 || flags > 0xFF) {
    throw new ERR_HANDOFF_INVALID_ARG(`flags 0x${Number(flags).toString(16)} are not defined for ${FRAME_TYPE_NAMES[type]}`)
  }
  if (!Buffer.isBuffer(body)) throw new ERR_HANDOFF_INVALID_ARG('body must be a Buffer')
  checkMaxFrameSize(maxFrameSize)
  const frameSize = HEADER_SIZE + body.length
  if (frameSize > maxFrameSize) {
    throw frameTooLarge(`${FRAME_TYPE_NAMES[type]} frame`, frameSize, maxFrameSize, { fatal: false, id })
  }
  const frame = allocFrame(type, id, body.length, fdCount, flags, version)
  body.copy(frame, HEADER_SIZE)
  return frame
}

/**
 * encodeFrame's check of `id` (ERR_HANDOFF_INVALID_ARG): a uint32, non-zero
 * on HANDOFF, ACCEPT and REJECT, zero on every other type. Also made by the
 * encoders that write a frame in place (allocFrame checks nothing).
 */
export function checkFrameId (type: FrameType, id: number): void {
  if (!isUint32(id)) throw new ERR_HANDOFF_INVALID_ARG(`id must be a uint32, got ${String(id)}`)
  if (isHandoffLevel(type) ? id === 0 : id !== 0) {
    throw new ERR_HANDOFF_INVALID_ARG(`${FRAME_TYPE_NAMES[type]} frames must have ${isHandoffLevel(type) ? 'a non-zero' : 'a zero'} id`)
  }
}

/**
 * A frame with its header written and its body left to the caller, for
 * encoders that write the body in place. No checks: the caller has made
 * exactly the ones encodeFrame makes.
 */
export function allocFrame (type: FrameType, id: number, bodyLength: number, fdCount: number, flags = 0,
  version = PROTOCOL_VERSION): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + bodyLength)
  frame[0] = MAGIC >>> 8
  frame[1] = MAGIC & 0xFF
  frame[2] = version
  frame[3] = type
  frame[4] = flags
  frame[5] = fdCount
  frame[6] = 0
  frame[7] = 0
  frame.writeUInt32BE(id, 8)
  frame.writeUInt32BE(bodyLength, 12)
  return frame
}

/** encodeFrame's checks of `id` and `maxFrameSize` for a HANDOFF of `frameSize` bytes (its type, fdCount and flags are fixed). */
export function checkHandoffFrame (id: number, frameSize: number, maxFrameSize: number): void {
  checkFrameId(FrameType.Handoff, id)
  checkMaxFrameSize(maxFrameSize)
  if (frameSize > maxFrameSize) {
    throw frameTooLarge(`${FRAME_TYPE_NAMES[FrameType.Handoff]} frame`, frameSize, maxFrameSize, { fatal: false, id })
  }
}

/**
 * Reads and checks a header (the first 16 bytes of `buf`). Every failure is
 * fatal; checks run in field order: magic, version, type, flags, fdCount,
 * reserved, id, bodyLength. A HANDOFF declaring other than one descriptor is
 * NOT refused here (its frame is well delimited: it gets a REJECT, see
 * `checkDescriptors`).
 */
export function decodeHeader (buf: Buffer, maxFrameSize = MAX_FRAME_SIZE): FrameHeader {
  if (buf.length < HEADER_SIZE) {
    throw protocolError('bad-frame', `a header is ${HEADER_SIZE} bytes, got ${buf.length}`, { fatal: true })
  }
  const magic = buf.readUInt16BE(0)
  if (magic !== MAGIC) {
    throw protocolError('bad-magic', `bad frame magic 0x${magic.toString(16).padStart(4, '0')} (expected 0x484f, "HO")`,
      { fatal: true })
  }
  const version = buf.readUInt8(2)
  if (version < MIN_PROTOCOL_VERSION || version > MAX_PROTOCOL_VERSION) {
    throw protocolError('bad-version',
      `unsupported frame version ${version} (this peer speaks ${MIN_PROTOCOL_VERSION} to ${MAX_PROTOCOL_VERSION})`, { fatal: true, version })
  }
  const type = buf.readUInt8(3)
  if (!isFrameType(type)) throw protocolError('bad-type', `unknown frame type ${type}`, { fatal: true, frameType: type })
  const name = FRAME_TYPE_NAMES[type]
  const flags = buf.readUInt8(4)
  if ((flags & ~ALLOWED_FLAGS[type]) !== 0) {
    throw protocolError('bad-frame', `${name}: undefined flag bits 0x${flags.toString(16).padStart(2, '0')}`, { fatal: true })
  }
  const fdCount = buf.readUInt8(5)
  if (fdCount > MAX_FDS_PER_FRAME) {
    throw protocolError('bad-frame', `${name}: fdCount ${fdCount} exceeds ${MAX_FDS_PER_FRAME}`, { fatal: true })
  }
  if (fdCount !== 0 && type !== FrameType.Handoff) {
    throw protocolError('bad-frame', `${name}: declares ${fdCount} descriptor(s); only HANDOFF carries descriptors`, { fatal: true })
  }
  const reserved = buf.readUInt16BE(6)
  if (reserved !== 0) {
    throw protocolError('bad-frame', `${name}: reserved bytes are 0x${reserved.toString(16).padStart(4, '0')}, must be 0`, { fatal: true })
  }
  const id = buf.readUInt32BE(8)
  if (isHandoffLevel(type) && id === 0) throw protocolError('bad-frame', `${name}: id must not be 0`, { fatal: true })
  if (!isHandoffLevel(type) && id !== 0) throw protocolError('bad-frame', `${name}: id must be 0, got ${id}`, { fatal: true })
  const bodyLength = buf.readUInt32BE(12)
  const frameSize = HEADER_SIZE + bodyLength
  if (frameSize > maxFrameSize) {
    throw frameTooLarge(`${name} frame`, frameSize, maxFrameSize, { fatal: true, id: isHandoffLevel(type) ? id : undefined })
  }
  return { version, type, flags, fdCount, id, bodyLength }
}

/**
 * The header version a frame of `type` must carry on a channel of
 * `channelVersion` (§5): 1 for the frames that come before or outside a
 * negotiation (HELLO, an observer's STATUS_REQUEST and its STATUS_REPORT),
 * the channel's version for every other.
 */
function frameVersion (type: FrameType, channelVersion: number): number {
  return type === FrameType.Hello || type === FrameType.StatusRequest || type === FrameType.StatusReport
    ? PROTOCOL_VERSION
    : channelVersion
}

/**
 * decodeHeader takes any version this codec speaks, so a framer needs no
 * state; this is the exact check, made in order with the frames, once the
 * channel's version is known: anything else is fatal 'bad-version'.
 */
export function checkFrameVersion (header: FrameHeader, channelVersion: number): void {
  const expected = frameVersion(header.type, channelVersion)
  if (header.version !== expected) {
    throw protocolError('bad-version',
      `${FRAME_TYPE_NAMES[header.type]}: frame version ${header.version} on a channel of version ${channelVersion} (expected ${expected})`,
      { fatal: true, version: header.version, id: isHandoffLevel(header.type) ? header.id : undefined })
  }
}

/** An encoder's, or a bare body decoder's, check of the version it was given (a caller's argument, not wire data): refused with ERR_HANDOFF_INVALID_ARG. */
export function checkVersionArgument (type: FrameType, version: number): void {
  if (!Number.isInteger(version) || version < MIN_PROTOCOL_VERSION || version > MAX_PROTOCOL_VERSION) {
    throw new ERR_HANDOFF_INVALID_ARG(`version must be ${MIN_PROTOCOL_VERSION} to ${MAX_PROTOCOL_VERSION}, got ${String(version)}`)
  }
  if (frameVersion(type, version) !== version) {
    throw new ERR_HANDOFF_INVALID_ARG(`${FRAME_TYPE_NAMES[type]} frames always carry version ${PROTOCOL_VERSION}`)
  }
}

/** Splits a whole frame (exactly header + body, as a Channel delivers it). Fatal errors only. */
export function decodeFrame (frame: Buffer, maxFrameSize = MAX_FRAME_SIZE): { header: FrameHeader, body: Buffer } {
  const header = decodeHeader(frame, maxFrameSize)
  checkFrameLength(frame, header)
  return { header, body: frame.subarray(HEADER_SIZE) }
}

/** A whole frame is exactly header + body (fatal 'bad-frame' otherwise). */
export function checkFrameLength (frame: Buffer, header: FrameHeader): void {
  const expected = HEADER_SIZE + header.bodyLength
  if (frame.length !== expected) {
    throw protocolError('bad-frame', `${FRAME_TYPE_NAMES[header.type]}: frame is ${frame.length} bytes, header says ${expected}`,
      { fatal: true })
  }
}

/** A Framer for a Channel, refusing frames over `maxFrameSize` (default MAX_FRAME_SIZE). */
export function createFramer (maxFrameSize = MAX_FRAME_SIZE): Framer {
  checkMaxFrameSize(maxFrameSize)
  return Object.freeze({
    headerSize: HEADER_SIZE,
    maxFrameSize,
    parse (header: Buffer): { frameSize: number, fdCount: number } {
      const h = decodeHeader(header, maxFrameSize)
      return { frameSize: HEADER_SIZE + h.bodyLength, fdCount: h.fdCount }
    }
  })
}

/** The Framer of PROTOCOL.md with the default 1 MiB limit. */
export const protocolFramer: Framer = createFramer()

/**
 * Checks the descriptors that came with a frame (PROTOCOL.md, "Descriptors").
 * For a HANDOFF, throws a protocol error (not fatal) whose `reason` goes in
 * the REJECT: "descriptors-truncated" if the kernel truncated them
 * (MSG_CTRUNC), "descriptors-missing" for none, "too-many-descriptors" for
 * more than one (declared or received). Other types never throw: descriptors
 * on them are closed by the caller and the frame is processed as if none had
 * come.
 */
export function checkDescriptors (header: FrameHeader, received: number, truncated = false): void {
  if (header.type !== FrameType.Handoff) return
  if (truncated) {
    throw protocolError('descriptors-truncated',
      `HANDOFF ${header.id}: descriptors were truncated in transit (MSG_CTRUNC)`, { fatal: false, id: header.id })
  }
  if (header.fdCount > FDS_PER_HANDOFF || received > FDS_PER_HANDOFF) {
    throw protocolError('too-many-descriptors',
      `HANDOFF ${header.id}: declared ${header.fdCount} and received ${received} descriptors, expected ${FDS_PER_HANDOFF}`,
      { fatal: false, id: header.id })
  }
  if (header.fdCount < FDS_PER_HANDOFF || received < FDS_PER_HANDOFF) {
    throw protocolError('descriptors-missing',
      `HANDOFF ${header.id}: declared ${header.fdCount} and received ${received} descriptors, expected ${FDS_PER_HANDOFF}`,
      { fatal: false, id: header.id })
  }
}
