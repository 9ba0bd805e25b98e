// Version 2's binary bodies (PROTOCOL.md §14): the HANDOFF metadata and the
// ACCEPT, the two frames every handoff costs. Version 1 writes both as JSON,
// and JSON.stringify/JSON.parse were most of the codec's time per handoff;
// here what every handoff has is fixed-width, strings are length-prefixed
// UTF-8, and only the application's `context` (arbitrary JSON by nature) and
// the rare members (`resume`) are JSON, in sections that are empty (nothing
// to parse) when absent. The writers take values validateMeta and
// validateAccept (messages.ts) have checked; the metadata reader applies the
// same rules itself as it reads (building one object per handoff, not a
// parsed one and then its validated copy), so both versions accept exactly
// the same metadata (test/protocol/version2.test.ts holds them to it).
import type { Accept, HandoffKind, HandoffMeta } from './messages.js'
import { MAX_NAME_LENGTH, codePointLength } from './limits.js'

type Fail = (message: string, cause?: unknown) => never
type JsonObject = Record<string, unknown>

/** Bytes of the metadata's fixed part. */
export const META_V2_FIXED_SIZE = 36
/** Bytes of a version 2 ACCEPT body. */
export const ACCEPT_V2_SIZE = 16

/** `kind` codes: index = code. 0 is not a kind. */
const KINDS: ReadonlyArray<HandoffKind | undefined> = [undefined, 'upgrade', 'request', 'raw', 'websocket']
const KIND_CODE: Readonly<Record<HandoffKind, number>> = { upgrade: 1, request: 2, raw: 3, websocket: 4 }

// The flags byte.
const KEEP_ALIVE = 0x01
const HAS_DEADLINE = 0x02
const HAS_REMOTE_PORT = 0x04
const HAS_LOCAL_PORT = 0x08
const HAS_FAMILY = 0x10
const FAMILY_IPV6 = 0x20
const DEFINED_FLAGS = 0x3F

/** uint64 "none" of ACCEPT's `max`: all ones. Any other value above 2^53 − 1 is refused. */
const NONE_HI = 0xFFFFFFFF
const NONE_LO = 0xFFFFFFFF
/** 2^53 − 1 = MAX_SAFE_INTEGER: its high 32 bits. */
const MAX_SAFE_HI = 0x1FFFFF
const TWO_32 = 0x100000000

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The metadata's encoded pieces, measured before the frame is allocated, so
 * that it is written in place with no intermediate buffer.
 */
export interface MetaV2Plan {
  meta: HandoffMeta
  targetLength: number
  remoteAddressLength: number
  localAddressLength: number
  /** JSON text of `context`, or undefined when absent (or not serializable to a value, as JSON.stringify drops it in v1). */
  context: string | undefined
  contextLength: number
  /** JSON text of the object holding the rare members (`resume`), or undefined when there are none. */
  extra: string | undefined
  extraLength: number
  /** The whole metadata section. */
  size: number
}

/**
 * Measures already validated metadata. Throws what JSON.stringify throws
 * (a BigInt, a cycle in `context`): the caller wraps it.
 */
export function planMetaV2 (meta: HandoffMeta): MetaV2Plan {
  const targetLength = meta.target === undefined ? 0 : utf8Length(meta.target)
  const remoteAddressLength = meta.remoteAddress === undefined ? 0 : utf8Length(meta.remoteAddress)
  const localAddressLength = meta.localAddress === undefined ? 0 : utf8Length(meta.localAddress)
  const context = meta.context === undefined ? undefined : JSON.stringify(meta.context) as string | undefined
  const contextLength = context === undefined ? 0 : utf8Length(context)
  const extra = meta.resume === undefined ? undefined : JSON.stringify({ resume: meta.resume })
  const extraLength = extra === undefined ? 0 : utf8Length(extra)
  return {
    meta,
    targetLength,
    remoteAddressLength,
    localAddressLength,
    context,
    contextLength,
    extra,
    extraLength,
    size: META_V2_FIXED_SIZE + targetLength + remoteAddressLength + localAddressLength + contextLength + extraLength
  }
}

/** Writes the metadata section's bytes (plan.size of them) at `offset` of `frame`. */
export function writeMetaV2 (frame: Buffer, offset: number, plan: MetaV2Plan): void {
  const m = plan.meta
  let flags = m.keepAlive ? KEEP_ALIVE : 0
  if (m.deadline !== undefined) flags |= HAS_DEADLINE
  if (m.remotePort !== undefined) flags |= HAS_REMOTE_PORT
  if (m.localPort !== undefined) flags |= HAS_LOCAL_PORT
  if (m.family !== undefined) flags |= m.family === 'IPv6' ? HAS_FAMILY | FAMILY_IPV6 : HAS_FAMILY
  frame[offset] = KIND_CODE[m.kind]
  frame[offset + 1] = flags
  frame.writeUInt16BE(m.remotePort ?? 0, offset + 2)
  frame.writeUInt16BE(m.localPort ?? 0, offset + 4)
  frame.writeUInt16BE(plan.targetLength, offset + 6)
  frame.writeUInt16BE(plan.remoteAddressLength, offset + 8)
  frame.writeUInt16BE(plan.localAddressLength, offset + 10)
  frame.writeUInt32BE(plan.contextLength, offset + 12)
  frame.writeUInt32BE(plan.extraLength, offset + 16)
  frame.writeDoubleBE(m.sentAt, offset + 20)
  frame.writeDoubleBE(m.deadline ?? 0, offset + 28)
  let at = offset + META_V2_FIXED_SIZE
  if (m.target !== undefined) at += writeUtf8(frame, at, m.target, plan.targetLength)
  if (m.remoteAddress !== undefined) at += writeUtf8(frame, at, m.remoteAddress, plan.remoteAddressLength)
  if (m.localAddress !== undefined) at += writeUtf8(frame, at, m.localAddress, plan.localAddressLength)
  if (plan.context !== undefined) at += writeUtf8(frame, at, plan.context, plan.contextLength)
  if (plan.extra !== undefined) writeUtf8(frame, at, plan.extra, plan.extraLength)
}

/**
 * Reads and validates the metadata section `body[start, end)`: the metadata
 * itself, with every rule validateMeta (messages.ts) applies to version 1's
 * JSON, so both versions accept exactly the same metadata. Most rules hold
 * by construction here (a port is a uint16, the kind a code, a flag a bit);
 * what the bytes can still get wrong is checked: the section's own lengths,
 * the flags, the kind code, UTF-8, JSON, the numbers and the names' lengths.
 * One object, built once: this runs for every handoff. `head` is the frame's
 * head section (an "upgrade" or "request" needs one). `fail` gets every
 * problem (REJECT "bad-metadata": the section itself was well delimited).
 */
export function readMetaV2 (body: Buffer, start: number, end: number, head: Buffer, fail: Fail): HandoffMeta {
  if (end - start < META_V2_FIXED_SIZE) return fail(`${end - start} bytes, less than the fixed ${META_V2_FIXED_SIZE}`)
  const kind = KINDS[body[start]]
  if (kind === undefined) return fail(`unknown kind code ${body[start]}`)
  if (kind !== 'raw' && head.length === 0) return fail(`a "${kind}" handoff needs the request head`)
  const flags = body[start + 1]
  if ((flags & ~DEFINED_FLAGS) !== 0) return fail(`undefined flag bits 0x${flags.toString(16).padStart(2, '0')}`)
  if ((flags & (HAS_FAMILY | FAMILY_IPV6)) === FAMILY_IPV6) return fail('the IPv6 bit is set without the family bit')
  const remotePort = body.readUInt16BE(start + 2)
  const localPort = body.readUInt16BE(start + 4)
  const targetLength = body.readUInt16BE(start + 6)
  const remoteAddressLength = body.readUInt16BE(start + 8)
  const localAddressLength = body.readUInt16BE(start + 10)
  const contextLength = body.readUInt32BE(start + 12)
  const extraLength = body.readUInt32BE(start + 16)
  const sentAt = body.readDoubleBE(start + 20)
  const deadline = body.readDoubleBE(start + 28)
  if ((flags & HAS_REMOTE_PORT) === 0 && remotePort !== 0) return fail('remotePort is not 0 but absent')
  if ((flags & HAS_LOCAL_PORT) === 0 && localPort !== 0) return fail('localPort is not 0 but absent')
  if ((flags & HAS_DEADLINE) === 0 && !Object.is(deadline, 0)) return fail('deadline is not 0 but absent')
  // Summed as numbers: two uint32s cannot overflow a double.
  const size = META_V2_FIXED_SIZE + targetLength + remoteAddressLength + localAddressLength + contextLength + extraLength
  if (size !== end - start) return fail(`the lengths add up to ${size} bytes, the section has ${end - start}`)
  // (`x >= 0` is false for NaN.)
  if (!(sentAt >= 0 && sentAt !== Infinity)) return fail('"sentAt" must be a finite number >= 0 (ms since the epoch)')
  const meta: HandoffMeta = { kind, keepAlive: (flags & KEEP_ALIVE) !== 0, sentAt }
  if ((flags & HAS_DEADLINE) !== 0) {
    if (!(deadline >= 0 && deadline !== Infinity)) return fail('"deadline" must be a finite number >= 0 (ms since the epoch)')
    meta.deadline = deadline
  }
  let at = start + META_V2_FIXED_SIZE
  if (targetLength !== 0) meta.target = readName(body, at, at + targetLength, 'target', fail)
  at += targetLength
  if (remoteAddressLength !== 0) meta.remoteAddress = readName(body, at, at + remoteAddressLength, 'remoteAddress', fail)
  at += remoteAddressLength
  if ((flags & HAS_REMOTE_PORT) !== 0) meta.remotePort = remotePort
  if (localAddressLength !== 0) meta.localAddress = readName(body, at, at + localAddressLength, 'localAddress', fail)
  at += localAddressLength
  if ((flags & HAS_LOCAL_PORT) !== 0) meta.localPort = localPort
  if ((flags & HAS_FAMILY) !== 0) meta.family = (flags & FAMILY_IPV6) !== 0 ? 'IPv6' : 'IPv4'
  if (contextLength !== 0) meta.context = readJson(body, at, at + contextLength, 'context', fail)
  at += contextLength
  let resume: unknown
  if (extraLength !== 0) {
    const extra = readJson(body, at, at + extraLength, 'extra', fail)
    if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) return fail('extra must be a JSON object')
    // Members a reader does not know are ignored, as in version 1's JSON.
    resume = (extra as JsonObject).resume
  }
  if (resume !== undefined || kind === 'websocket') {
    if (kind !== 'websocket') return fail('"resume" belongs to a "websocket" handoff only')
    if (typeof resume !== 'object' || resume === null || Array.isArray(resume)) return fail('"resume" must be an object')
    meta.resume = resume as Record<string, unknown>
  }
  return meta
}

/** A target or an address: UTF-8 of at most MAX_NAME_LENGTH code points (its length prefix makes it at least 1). */
function readName (buf: Buffer, start: number, end: number, what: string, fail: Fail): string {
  const value = readUtf8(buf, start, end, what, fail)
  // .length is never below the code point count: only a long string needs counting.
  if (value.length > MAX_NAME_LENGTH && codePointLength(value) > MAX_NAME_LENGTH) {
    return fail(`"${what}" must be a string of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  return value
}

/** Bytes of `s` in UTF-8 (a lone surrogate counts 3: it is written as U+FFFD, as buf.write does). */
function utf8Length (s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

/**
 * Writes `s` (`length` bytes of UTF-8, from utf8Length) at `at`; returns
 * `length`. As many bytes as characters means ASCII, whose UTF-8 is its
 * Latin-1: the simpler encoder, and a JS loop for an address (cheaper than
 * any call into C++ at that size).
 */
function writeUtf8 (buf: Buffer, at: number, s: string, length: number): number {
  if (length !== s.length) return buf.write(s, at, length, 'utf8')
  if (length > 16) return buf.write(s, at, length, 'latin1')
  for (let i = 0; i < length; i++) buf[at + i] = s.charCodeAt(i)
  return length
}

/** UTF-8 text of `buf[start, end)`, refusing invalid UTF-8. Addresses are ASCII: they skip the TextDecoder. */
function readUtf8 (buf: Buffer, start: number, end: number, what: string, fail: Fail): string {
  let i = start
  while (i < end && buf[i] < 0x80) i++
  if (i === end) return buf.toString('latin1', start, end)
  try {
    return utf8.decode(buf.subarray(start, end))
  } catch (err) {
    return fail(`${what} is not valid UTF-8`, err)
  }
}

function readJson (buf: Buffer, start: number, end: number, what: string, fail: Fail): unknown {
  const text = readUtf8(buf, start, end, what, fail)
  try {
    return JSON.parse(text)
  } catch (err) {
    return fail(`${what} is not valid JSON: ${(err as Error).message}`, err)
  }
}

/** Writes a validated ACCEPT as its 16-byte body at `offset`: `live` and `max` as uint64, `max` null as all ones. */
export function writeAcceptV2 (frame: Buffer, offset: number, accept: Accept): void {
  writeUint53(frame, offset, accept.live)
  if (accept.max === null) {
    frame.writeUInt32BE(NONE_HI, offset + 8)
    frame.writeUInt32BE(NONE_LO, offset + 12)
  } else {
    writeUint53(frame, offset + 8, accept.max)
  }
}

/**
 * Reads the ACCEPT body from `start` to the end of `buf`: 16 bytes; `fail`
 * (fatal "bad-message", as for any control body) on any other size or value.
 */
export function readAcceptV2 (buf: Buffer, start: number, fail: Fail): Accept {
  if (buf.length - start !== ACCEPT_V2_SIZE) return fail(`a version 2 body is ${ACCEPT_V2_SIZE} bytes, got ${buf.length - start}`)
  const live = readUint53(buf, start)
  if (live === undefined) return fail('"live" is above 2^53 - 1')
  const maxHi = buf.readUInt32BE(start + 8)
  const maxLo = buf.readUInt32BE(start + 12)
  if (maxHi === NONE_HI && maxLo === NONE_LO) return { live, max: null }
  const max = readUint53(buf, start + 8)
  if (max === undefined) return fail('"max" is above 2^53 - 1 and not "none" (all ones)')
  return { live, max }
}

function writeUint53 (buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), offset)
  buf.writeUInt32BE(value % TWO_32, offset + 4)
}

function readUint53 (buf: Buffer, offset: number): number | undefined {
  const hi = buf.readUInt32BE(offset)
  if (hi > MAX_SAFE_HI) return undefined
  return hi * TWO_32 + buf.readUInt32BE(offset + 4)
}
