// Message bodies: encode (whole frames) and decode (bodies) for every frame
// type of PROTOCOL.md. Pure: no I/O. Decoders validate strictly and throw the
// typed errors of ./errors.ts; an encoder refuses what a decoder would refuse.
import {
  FrameType, FRAME_TYPE_NAMES, PROTOCOL_NAME, PROTOCOL_VERSION, SENT_BY, encodeFrame, decodeHeader, checkFrameLength, checkDescriptors,
  allocFrame, checkHandoffFrame, checkVersionArgument, checkFrameId, checkFrameVersion, MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION,
  type FrameHeader
} from './frame.js'
import { ACCEPT_V2_SIZE, planMetaV2, readAcceptV2, readMetaV2, writeAcceptV2, writeMetaV2, type MetaV2Plan } from './binary.js'
import {
  FDS_PER_HANDOFF, HANDOFF_PREFIX_SIZE, HEADER_SIZE, MAX_BUFFERED_SIZE, MAX_CONTROL_BODY_SIZE, MAX_FRAME_SIZE, MAX_HEAD_SIZE,
  MAX_MAX_FRAME_SIZE, MAX_META_SIZE, MAX_NAME_LENGTH, MAX_REASON_LENGTH, MIN_MAX_FRAME_SIZE, codePointLength
} from './limits.js'
import {
  ERR_HANDOFF_INVALID_ARG, frameTooLarge, isProtocolError, protocolError, type ErrorReason, type RejectReason
} from './errors.js'
import { EMPTY_BUFFER } from '../empty.js'

// ---------------------------------------------------------------------------
// Types

export type Role = 'sender' | 'receiver'
export const ROLES: readonly Role[] = ['sender', 'receiver']

export interface Hello {
  protocol: typeof PROTOCOL_NAME
  /** Highest protocol version the peer speaks. */
  version: number
  /** Lowest protocol version the peer speaks. */
  minVersion: number
  role: Role
  /** The peer's process id, for logs (0 when unknown). Not a credential. */
  pid: number
  /** Largest frame (header included) the peer accepts. */
  maxFrameSize: number
  /** Optional label of the peer (service or instance name), for logs. */
  name?: string
}

export interface HelloInit {
  role: Role
  pid: number
  maxFrameSize?: number
  name?: string
  /**
   * The highest and lowest versions to list (default 1 and 1: a version 1
   * peer, which every encoder and decoder here defaults to). A peer that
   * lists 2 must pass the negotiated version to them.
   */
  version?: number
  minVersion?: number
}

// 'websocket' (live migration, PROTOCOL.md §12): an established WebSocket
// resumed without a handshake. A receiver that predates it REJECTs it
// bad-metadata, so the sending sibling keeps the connection: never a
// WebSocket's frames replayed into an HTTP parser.
export type HandoffKind = 'upgrade' | 'request' | 'raw' | 'websocket'
export const HANDOFF_KINDS: readonly HandoffKind[] = ['upgrade', 'request', 'raw', 'websocket']
export type AddressFamily = 'IPv4' | 'IPv6'

export interface HandoffMeta {
  /** "upgrade": an HTTP Upgrade request; "request": a plain HTTP request; "raw": just a connection. */
  kind: HandoffKind
  /** Which of the receiver's targets should serve it; absent means its default. */
  target?: string
  /** Whether the client connection is keep-alive (HTTP/1.1 without "Connection: close"). */
  keepAlive: boolean
  /** When the sender sent it, ms since the Unix epoch. */
  sentAt: number
  /**
   * ms since the Unix epoch (the host's clock, shared by both peers): the
   * receiver must not ACCEPT at or after it (REJECT "expired" instead). The
   * sender gives the handoff up (and answers the client itself) only after
   * the deadline plus a grace period. Absent: no deadline.
   */
  deadline?: number
  /** The client's address and port as the sender saw them. */
  remoteAddress?: string
  remotePort?: number
  /** The sender's end of the client connection. */
  localAddress?: string
  localPort?: number
  family?: AddressFamily
  /** Arbitrary JSON from the application (absent when not given). */
  context?: unknown
  /** Kind "websocket" only, and required there: what resumes the WebSocket (PROTOCOL.md §12). */
  resume?: Record<string, unknown>
}

export interface HandoffRequest {
  meta: HandoffMeta
  /** The HTTP request head as received (request line + headers + CRLF CRLF); may be empty for "raw". */
  head: Buffer
  /** Bytes the sender had already read after the head; they come before anything left on the socket. */
  buffered: Buffer
}

export interface Accept {
  /** Connections the receiver serves now, this one included. */
  live: number
  /** Its limit, or null for none. */
  max: number | null
}

/** Reason strings: the ones version 1 defines, or any other (forward compatible). */
export type Reason<Known extends string> = Known | (string & {})

export interface Reject {
  reason: Reason<RejectReason>
  message: string
  /** May the sender try this handoff again (it still owns the connection)? */
  retryable: boolean
}

export interface RejectInit {
  reason: Reason<RejectReason>
  message?: string
  retryable?: boolean
}

export interface Status {
  live: number
  max: number | null
  /** True while the receiver rejects new handoffs (REJECT "draining"). */
  draining: boolean
}

export type GoodbyeReason = 'draining' | 'shutdown'

export interface Goodbye {
  reason: Reason<GoodbyeReason>
  message: string
}

export interface ErrorBody {
  reason: Reason<ErrorReason>
  message: string
}

/** Whether a REJECT of each reason is retryable when the receiver does not say. */
export const DEFAULT_RETRYABLE: Readonly<Record<RejectReason, boolean>> = {
  capacity: true,
  draining: true,
  'unknown-target': false,
  'bad-descriptor': false,
  'descriptors-missing': false,
  'descriptors-truncated': true,
  'too-many-descriptors': false,
  'bad-frame': false,
  'bad-metadata': false,
  'frame-too-large': false,
  unauthorized: false,
  internal: false,
  'closed-client': false,
  expired: false
}

// ---------------------------------------------------------------------------
// Validation helpers. `fail` decides which error a problem becomes: decoders
// raise protocol errors, encoders raise ERR_HANDOFF_INVALID_ARG.

type Fail = (message: string, cause?: unknown) => never
type JsonObject = Record<string, unknown>

const REASON_RE = new RegExp(`^[a-z][a-z0-9-]{0,${MAX_REASON_LENGTH - 1}}$`)
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function has (obj: JsonObject, key: string): boolean {
  // The load first: most optional members are absent, and a miss is cheaper than hasOwnProperty.
  return obj[key] !== undefined && Object.prototype.hasOwnProperty.call(obj, key)
}

/** A HELLO name or a target: a string of 1 to MAX_NAME_LENGTH code points. */
export function isProtocolName (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && (value.length <= MAX_NAME_LENGTH || codePointLength(value) <= MAX_NAME_LENGTH)
}

function getString (obj: JsonObject, key: string, fail: Fail, maxLength = Infinity, minLength = 0): string {
  const value = obj[key]
  if (typeof value !== 'string') return fail(`"${key}" must be a string`)
  // .length is never below the code point count: only a long string needs counting.
  if (value.length < minLength || (value.length > maxLength && codePointLength(value) > maxLength)) {
    return fail(`"${key}" must be ${minLength} to ${maxLength} characters`)
  }
  return value
}

function getOptionalString (obj: JsonObject, key: string, fail: Fail, maxLength: number): string | undefined {
  return has(obj, key) ? getString(obj, key, fail, maxLength, 1) : undefined
}

function getInteger (obj: JsonObject, key: string, fail: Fail, min: number, max: number): number {
  const value = obj[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    return fail(`"${key}" must be an integer from ${min} to ${max}`)
  }
  return value
}

function getLimit (obj: JsonObject, key: string, fail: Fail): number | null {
  if (obj[key] === null) return null
  return getInteger(obj, key, fail, 0, Number.MAX_SAFE_INTEGER)
}

function getBoolean (obj: JsonObject, key: string, fail: Fail): boolean {
  const value = obj[key]
  if (typeof value !== 'boolean') return fail(`"${key}" must be a boolean`)
  return value
}

function getReason (obj: JsonObject, key: string, fail: Fail): string {
  const value = obj[key]
  if (typeof value !== 'string' || !REASON_RE.test(value)) {
    return fail(`"${key}" must match ${REASON_RE.source}`)
  }
  return value
}

function parseJsonObject (bytes: Buffer, what: string, fail: Fail): JsonObject {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch (err) {
    return fail(`${what} is not valid UTF-8`, err)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return fail(`${what} is not valid JSON: ${(err as Error).message}`, err)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(`${what} must be a JSON object`)
  }
  return value as JsonObject
}

function toJson (value: JsonObject, what: string): Buffer {
  let text: string
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new ERR_HANDOFF_INVALID_ARG(`${what} cannot be serialized as JSON: ${(err as Error).message}`, { cause: err })
  }
  return Buffer.from(text, 'utf8')
}

function encoderFail (what: string): Fail {
  return (message, cause) => {
    throw cause === undefined
      ? new ERR_HANDOFF_INVALID_ARG(`${what}: ${message}`)
      : new ERR_HANDOFF_INVALID_ARG(`${what}: ${message}`, { cause })
  }
}

/** Control frames (every type but HANDOFF): a problem in the body is fatal. */
function controlFail (type: FrameType): Fail {
  return (message, cause) => {
    throw protocolError('bad-message', `${FRAME_TYPE_NAMES[type]}: ${message}`, { fatal: true, cause })
  }
}

function decodeControl (type: FrameType, body: Buffer): JsonObject {
  if (body.length > MAX_CONTROL_BODY_SIZE) {
    throw frameTooLarge(`${FRAME_TYPE_NAMES[type]} body`, body.length, MAX_CONTROL_BODY_SIZE, { fatal: true })
  }
  return parseJsonObject(body, `${FRAME_TYPE_NAMES[type]} body`, controlFail(type))
}

function encodeControl (type: FrameType, id: number, value: JsonObject, version = PROTOCOL_VERSION): Buffer {
  const body = toJson(value, FRAME_TYPE_NAMES[type])
  if (body.length > MAX_CONTROL_BODY_SIZE) {
    throw frameTooLarge(`${FRAME_TYPE_NAMES[type]} body`, body.length, MAX_CONTROL_BODY_SIZE,
      { fatal: false, id: id === 0 ? undefined : id })
  }
  return encodeFrame(type, id, body, 0, 0, MAX_FRAME_SIZE, version)
}

/** Drops undefined members so that JSON.stringify and key order are predictable. */
function compact (entries: Array<[string, unknown]>): JsonObject {
  const out: JsonObject = {}
  for (const [key, value] of entries) if (value !== undefined) out[key] = value
  return out
}

function asObject (value: unknown, what: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ERR_HANDOFF_INVALID_ARG(`${what} must be an object`)
  }
  return value as JsonObject
}

// ---------------------------------------------------------------------------
// HELLO (type 1)

function validateHello (obj: JsonObject, fail: Fail): Hello {
  if (obj.protocol !== PROTOCOL_NAME) return fail(`"protocol" must be "${PROTOCOL_NAME}"`)
  const version = getInteger(obj, 'version', fail, 1, 255)
  const minVersion = getInteger(obj, 'minVersion', fail, 1, version)
  const role = obj.role
  if (role !== 'sender' && role !== 'receiver') return fail('"role" must be "sender" or "receiver"')
  const pid = getInteger(obj, 'pid', fail, 0, Number.MAX_SAFE_INTEGER)
  const maxFrameSize = getInteger(obj, 'maxFrameSize', fail, MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE)
  const name = getOptionalString(obj, 'name', fail, MAX_NAME_LENGTH)
  const hello: Hello = { protocol: PROTOCOL_NAME, version, minVersion, role, pid, maxFrameSize }
  if (name !== undefined) hello.name = name
  return hello
}

/** A whole HELLO frame, always sent with header version 1. */
export function encodeHello (init: HelloInit): Buffer {
  const obj = asObject(init, 'HELLO')
  const fail = encoderFail('HELLO')
  const hello = validateHello({
    ...obj,
    protocol: PROTOCOL_NAME,
    version: obj.version ?? PROTOCOL_VERSION,
    minVersion: obj.minVersion ?? PROTOCOL_VERSION,
    maxFrameSize: obj.maxFrameSize ?? MAX_FRAME_SIZE
  }, fail)
  // Listing a version this codec cannot write would make the peer pick it.
  if (hello.version > MAX_PROTOCOL_VERSION || hello.minVersion < MIN_PROTOCOL_VERSION) {
    return fail(`this codec speaks versions ${MIN_PROTOCOL_VERSION} to ${MAX_PROTOCOL_VERSION}, not ${hello.minVersion} to ${hello.version}`)
  }
  return encodeControl(FrameType.Hello, 0, compact([
    ['protocol', hello.protocol], ['version', hello.version], ['minVersion', hello.minVersion],
    ['role', hello.role], ['pid', hello.pid], ['maxFrameSize', hello.maxFrameSize], ['name', hello.name]
  ]))
}

export function decodeHello (body: Buffer): Hello {
  return validateHello(decodeControl(FrameType.Hello, body), controlFail(FrameType.Hello))
}

/**
 * Why a frame of `type` may not reach a `receivedBy` peer now (§5: HELLO
 * first, and once; §3: which side sends which type), or null if it may. It
 * needs only the header's type: a frame out of place is ERROR
 * "unexpected-frame" whatever its body holds, so check before decoding it.
 */
export function outOfPlace (type: FrameType, receivedBy: Role, helloDone: boolean): string | null {
  if (!helloDone) {
    // A receiver also takes an observer's STATUS_REQUEST in the HELLO's place (§13).
    if (type === FrameType.Hello || (type === FrameType.StatusRequest && receivedBy === 'receiver')) return null
    return `the first frame must be HELLO, got ${FRAME_TYPE_NAMES[type]}`
  }
  if (type === FrameType.Hello || SENT_BY[type] === receivedBy || SENT_BY[type] === 'observer' || type === FrameType.StatusReport) {
    return `unexpected ${FRAME_TYPE_NAMES[type]} frame from a ${receivedBy === 'sender' ? 'receiver' : 'sender'}`
  }
  return null
}

/**
 * Checks the peer's HELLO against ours and returns the version to speak:
 * the highest both support. Throws a protocol error 'role-mismatch' or
 * 'unsupported-version' (both fatal: send ERROR and close).
 */
export function negotiateHello (local: Pick<Hello, 'role' | 'version' | 'minVersion'>, remote: Hello): number {
  if (local.role === remote.role) throw protocolError('role-mismatch', `both peers are "${remote.role}"`, { fatal: true })
  const version = Math.min(local.version, remote.version)
  const floor = Math.max(local.minVersion, remote.minVersion)
  if (version < floor) {
    throw protocolError('unsupported-version',
      `no common protocol version: we speak ${local.minVersion}..${local.version}, the peer ${remote.minVersion}..${remote.version}`, { fatal: true })
  }
  return version
}

// ---------------------------------------------------------------------------
// HANDOFF (type 2)

// Every member is read by name, once (obj.target, not obj[key]): this runs
// for every handoff a sender encodes and every version 1 HANDOFF received,
// and a load by a constant name is a cached one where obj[key] over many
// keys is a megamorphic lookup.
function validateMeta (obj: JsonObject, head: Buffer, fail: Fail): HandoffMeta {
  const kind = obj.kind
  if (typeof kind !== 'string' || !(HANDOFF_KINDS as readonly string[]).includes(kind)) {
    return fail(`"kind" must be one of ${HANDOFF_KINDS.join(', ')}`)
  }
  if (kind !== 'raw' && head.length === 0) return fail(`a "${kind}" handoff needs the request head`)
  const keepAlive = obj.keepAlive
  if (typeof keepAlive !== 'boolean') return fail('"keepAlive" must be a boolean')
  const sentAt = obj.sentAt
  if (typeof sentAt !== 'number' || !Number.isFinite(sentAt) || sentAt < 0) {
    return fail('"sentAt" must be a finite number >= 0 (ms since the epoch)')
  }
  const meta: HandoffMeta = { kind: kind as HandoffKind, keepAlive, sentAt }
  const deadline = obj.deadline
  if (own(obj, 'deadline', deadline)) {
    if (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline < 0) {
      return fail('"deadline" must be a finite number >= 0 (ms since the epoch)')
    }
    meta.deadline = deadline
  }
  const target = obj.target
  if (own(obj, 'target', target)) meta.target = nameOf(target, 'target', fail)
  const remoteAddress = obj.remoteAddress
  if (own(obj, 'remoteAddress', remoteAddress)) meta.remoteAddress = nameOf(remoteAddress, 'remoteAddress', fail)
  const remotePort = obj.remotePort
  if (own(obj, 'remotePort', remotePort)) meta.remotePort = portOf(remotePort, 'remotePort', fail)
  const localAddress = obj.localAddress
  if (own(obj, 'localAddress', localAddress)) meta.localAddress = nameOf(localAddress, 'localAddress', fail)
  const localPort = obj.localPort
  if (own(obj, 'localPort', localPort)) meta.localPort = portOf(localPort, 'localPort', fail)
  const family = obj.family
  if (own(obj, 'family', family)) {
    if (family !== 'IPv4' && family !== 'IPv6') return fail('"family" must be "IPv4" or "IPv6"')
    meta.family = family
  }
  // Present even when undefined or null, as the application gave it.
  if (Object.prototype.hasOwnProperty.call(obj, 'context')) meta.context = obj.context
  const resume = obj.resume
  if (own(obj, 'resume', resume) || kind === 'websocket') {
    if (kind !== 'websocket') return fail('"resume" belongs to a "websocket" handoff only')
    if (typeof resume !== 'object' || resume === null || Array.isArray(resume)) return fail('"resume" must be an object')
    meta.resume = resume as Record<string, unknown>
  }
  return meta
}

/** Whether obj has its own member `key`, whose `value` the caller loaded: undefined counts as absent (most optional members are). */
function own (obj: JsonObject, key: string, value: unknown): boolean {
  return value !== undefined && Object.prototype.hasOwnProperty.call(obj, key)
}

/** An optional name of the metadata (target, address): 1 to MAX_NAME_LENGTH code points. */
function nameOf (value: unknown, key: string, fail: Fail): string {
  // .length is never below the code point count: only a long string needs counting.
  if (typeof value !== 'string' || value.length === 0 || (value.length > MAX_NAME_LENGTH && codePointLength(value) > MAX_NAME_LENGTH)) {
    return fail(`"${key}" must be a string of 1 to ${MAX_NAME_LENGTH} characters`)
  }
  return value
}

function portOf (value: unknown, key: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 65535) {
    return fail(`"${key}" must be an integer from 0 to 65535`)
  }
  return value
}

/** The metadata object in the order PROTOCOL.md lists its keys, without the absent ones. */
function metaObject (m: HandoffMeta): JsonObject {
  const out: JsonObject = { kind: m.kind }
  if (m.target !== undefined) out.target = m.target
  out.keepAlive = m.keepAlive
  out.sentAt = m.sentAt
  if (m.deadline !== undefined) out.deadline = m.deadline
  if (m.remoteAddress !== undefined) out.remoteAddress = m.remoteAddress
  if (m.remotePort !== undefined) out.remotePort = m.remotePort
  if (m.localAddress !== undefined) out.localAddress = m.localAddress
  if (m.localPort !== undefined) out.localPort = m.localPort
  if (m.family !== undefined) out.family = m.family
  if (m.context !== undefined) out.context = m.context
  if (m.resume !== undefined) out.resume = m.resume
  return out
}

const handoffFail = encoderFail('HANDOFF')

/**
 * A whole HANDOFF frame (fdCount 1; send it with the client's descriptor, in a
 * sendmsg of its own) of the channel's `version`: the metadata is JSON in
 * version 1, binary in version 2 (§14). Section or frame over its limit:
 * 'frame-too-large' (not fatal: nothing was sent, the caller still owns the
 * connection). Written in place: the metadata goes straight into the frame.
 */
export function encodeHandoff (id: number, request: HandoffRequest, maxFrameSize = MAX_FRAME_SIZE,
  version = PROTOCOL_VERSION): Buffer {
  checkVersionArgument(FrameType.Handoff, version)
  const { meta, head, buffered } = asObject(request, 'HANDOFF') as unknown as HandoffRequest
  if (!Buffer.isBuffer(head)) return handoffFail('"head" must be a Buffer')
  if (!Buffer.isBuffer(buffered)) return handoffFail('"buffered" must be a Buffer')
  const m = validateMeta(asObject(meta, 'HANDOFF meta'), head, handoffFail)
  let json = ''
  let plan: MetaV2Plan | null = null
  try {
    if (version === 1) json = JSON.stringify(metaObject(m))
    else plan = planMetaV2(m)
  } catch (err) {
    throw new ERR_HANDOFF_INVALID_ARG(`HANDOFF meta cannot be serialized as JSON: ${(err as Error).message}`, { cause: err })
  }
  const metaLength = plan === null ? Buffer.byteLength(json, 'utf8') : plan.size
  if (metaLength > MAX_META_SIZE) throw frameTooLarge('HANDOFF meta', metaLength, MAX_META_SIZE, { fatal: false, id })
  if (head.length > MAX_HEAD_SIZE) throw frameTooLarge('HANDOFF head', head.length, MAX_HEAD_SIZE, { fatal: false, id })
  if (buffered.length > MAX_BUFFERED_SIZE) {
    throw frameTooLarge('HANDOFF buffered', buffered.length, MAX_BUFFERED_SIZE, { fatal: false, id })
  }
  const bodyLength = HANDOFF_PREFIX_SIZE + metaLength + head.length + buffered.length
  checkHandoffFrame(id, HEADER_SIZE + bodyLength, maxFrameSize)
  const frame = allocFrame(FrameType.Handoff, id, bodyLength, FDS_PER_HANDOFF, 0, version)
  let offset = frame.writeUInt32BE(metaLength, HEADER_SIZE)
  if (plan === null) frame.write(json, offset, metaLength, 'utf8')
  else writeMetaV2(frame, offset, plan)
  offset += metaLength
  offset = frame.writeUInt32BE(head.length, offset)
  offset += head.copy(frame, offset)
  offset = frame.writeUInt32BE(buffered.length, offset)
  buffered.copy(frame, offset)
  return frame
}

/**
 * Decodes a HANDOFF body of a channel of `version` (the sections are the
 * same in both; the metadata is JSON in 1, binary in 2). Errors are never
 * fatal (the frame was well delimited), with the reason "bad-frame" for an
 * inconsistent layout, "frame-too-large" for a section over its limit,
 * "bad-metadata" for bad metadata. head and buffered are copies (an empty
 * one is a shared, frozen, empty Buffer). A `version` this codec does not
 * speak is the caller's mistake (ERR_HANDOFF_INVALID_ARG), as in the encoders.
 */
export function decodeHandoff (body: Buffer, version = PROTOCOL_VERSION): HandoffRequest {
  checkVersionArgument(FrameType.Handoff, version)
  return readHandoff(body, 0, version)
}

/**
 * decodeHandoff of the body from `start` to the end of `buf` (a whole frame
 * from decodeMessage): no view of the body or of its sections is made, as
 * each costs about as much as reading a short string.
 */
function readHandoff (buf: Buffer, start: number, version: number): HandoffRequest {
  const metaEnd = handoffSection(buf, start, 'meta', MAX_META_SIZE)
  const headEnd = handoffSection(buf, metaEnd, 'head', MAX_HEAD_SIZE)
  const bufferedEnd = handoffSection(buf, headEnd, 'buffered', MAX_BUFFERED_SIZE)
  if (bufferedEnd !== buf.length) {
    throw protocolError('bad-frame', `HANDOFF: ${buf.length - bufferedEnd} byte(s) after the last section`, { fatal: false })
  }
  const head = copyOut(buf, metaEnd + 4, headEnd)
  const meta = version === 1
    ? validateMeta(parseJsonObject(buf.subarray(start + 4, metaEnd), 'metadata', metaFail), head, metaFail)
    : readMetaV2(buf, start + 4, metaEnd, head, metaFail)
  return { meta, head, buffered: copyOut(buf, headEnd + 4, bufferedEnd) }
}

/**
 * A copy of buf[start, end) in a buffer of its own (the frame's memory is the
 * channel's, reused). An empty section (most `buffered`, a raw handoff's
 * head) is one shared empty Buffer, frozen: it has nothing to copy or
 * overwrite, and making a Buffer costs about as much as reading a string.
 */
function copyOut (buf: Buffer, start: number, end: number): Buffer {
  if (end === start) return EMPTY_BUFFER
  const out = Buffer.allocUnsafe(end - start)
  buf.copy(out, 0, start, end)
  return out
}

const metaFail: Fail = (message, cause) => {
  throw protocolError('bad-metadata', `HANDOFF meta: ${message}`, { fatal: false, cause })
}

/** Checks the section whose length prefix starts at `offset` (the body runs to the end of `body`); returns where it ends. */
function handoffSection (body: Buffer, offset: number, name: string, limit: number): number {
  if (body.length - offset < 4) {
    throw protocolError('bad-frame', `HANDOFF: body ends before the length of section "${name}"`, { fatal: false })
  }
  const length = body.readUInt32BE(offset)
  if (length > limit) throw frameTooLarge(`HANDOFF ${name}`, length, limit, { fatal: false })
  if (body.length - offset - 4 < length) {
    throw protocolError('bad-frame', `HANDOFF: section "${name}" of ${length} bytes overruns the body`, { fatal: false })
  }
  return offset + 4 + length
}

/** Size of the HANDOFF frame `encodeHandoff` would build for these section sizes. */
export function handoffFrameSize (metaLength: number, headLength: number, bufferedLength: number): number {
  return HEADER_SIZE + HANDOFF_PREFIX_SIZE + metaLength + headLength + bufferedLength
}

// ---------------------------------------------------------------------------
// ACCEPT (3), REJECT (4), STATUS (5), GOODBYE (6), ERROR (7)

function validateAccept (obj: JsonObject, fail: Fail): Accept {
  return { live: getInteger(obj, 'live', fail, 0, Number.MAX_SAFE_INTEGER), max: getLimit(obj, 'max', fail) }
}

/** JSON in version 1; in version 2 (§14) a 16-byte binary body, written in place. */
export function encodeAccept (id: number, accept: Accept, version = PROTOCOL_VERSION): Buffer {
  const a = validateAccept(asObject(accept, 'ACCEPT'), acceptFail)
  if (version === 1) return encodeControl(FrameType.Accept, id, { live: a.live, max: a.max })
  checkVersionArgument(FrameType.Accept, version)
  checkFrameId(FrameType.Accept, id)
  const frame = allocFrame(FrameType.Accept, id, ACCEPT_V2_SIZE, 0, 0, version)
  writeAcceptV2(frame, HEADER_SIZE, a)
  return frame
}

const acceptFail = encoderFail('ACCEPT')

export function decodeAccept (body: Buffer, version = PROTOCOL_VERSION): Accept {
  checkVersionArgument(FrameType.Accept, version)
  if (version === 1) return validateAccept(decodeControl(FrameType.Accept, body), controlFail(FrameType.Accept))
  return readAcceptV2(body, 0, acceptDecodeFail)
}

const acceptDecodeFail = controlFail(FrameType.Accept)

function validateReject (obj: JsonObject, fail: Fail): Reject {
  return {
    reason: getReason(obj, 'reason', fail),
    message: getString(obj, 'message', fail),
    retryable: getBoolean(obj, 'retryable', fail)
  }
}

/** `retryable` defaults to DEFAULT_RETRYABLE[reason] (false for a reason v1 does not define); `message` to "". */
export function encodeReject (id: number, reject: RejectInit, version = PROTOCOL_VERSION): Buffer {
  const obj = asObject(reject, 'REJECT')
  const reason = obj.reason
  const fallback = typeof reason === 'string' && Object.prototype.hasOwnProperty.call(DEFAULT_RETRYABLE, reason)
    ? DEFAULT_RETRYABLE[reason as RejectReason]
    : false
  const r = validateReject({ ...obj, message: obj.message ?? '', retryable: obj.retryable ?? fallback },
    encoderFail('REJECT'))
  return encodeControl(FrameType.Reject, id, { reason: r.reason, message: r.message, retryable: r.retryable }, version)
}

export function decodeReject (body: Buffer): Reject {
  return validateReject(decodeControl(FrameType.Reject, body), controlFail(FrameType.Reject))
}

function validateStatus (obj: JsonObject, fail: Fail): Status {
  return {
    live: getInteger(obj, 'live', fail, 0, Number.MAX_SAFE_INTEGER),
    max: getLimit(obj, 'max', fail),
    draining: getBoolean(obj, 'draining', fail)
  }
}

export function encodeStatus (status: Status, version = PROTOCOL_VERSION): Buffer {
  const s = validateStatus(asObject(status, 'STATUS'), encoderFail('STATUS'))
  return encodeControl(FrameType.Status, 0, { live: s.live, max: s.max, draining: s.draining }, version)
}

export function decodeStatus (body: Buffer): Status {
  return validateStatus(decodeControl(FrameType.Status, body), controlFail(FrameType.Status))
}

function validateReasonMessage (obj: JsonObject, fail: Fail): { reason: string, message: string } {
  return { reason: getReason(obj, 'reason', fail), message: getString(obj, 'message', fail) }
}

export function encodeGoodbye (goodbye: { reason: Reason<GoodbyeReason>, message?: string }, version = PROTOCOL_VERSION): Buffer {
  const obj = asObject(goodbye, 'GOODBYE')
  const g = validateReasonMessage({ ...obj, message: obj.message ?? '' }, encoderFail('GOODBYE'))
  return encodeControl(FrameType.Goodbye, 0, { reason: g.reason, message: g.message }, version)
}

export function decodeGoodbye (body: Buffer): Goodbye {
  return validateReasonMessage(decodeControl(FrameType.Goodbye, body), controlFail(FrameType.Goodbye))
}

export function encodeError (error: { reason: Reason<ErrorReason>, message?: string }, version = PROTOCOL_VERSION): Buffer {
  const obj = asObject(error, 'ERROR')
  const e = validateReasonMessage({ ...obj, message: obj.message ?? '' }, encoderFail('ERROR'))
  return encodeControl(FrameType.Error, 0, { reason: e.reason, message: e.message }, version)
}

export function decodeError (body: Buffer): ErrorBody {
  return validateReasonMessage(decodeControl(FrameType.Error, body), controlFail(FrameType.Error))
}

// ---------------------------------------------------------------------------
// STATUS_REQUEST (32), STATUS_REPORT (33): an observer's one-shot query
// (PROTOCOL.md §13). The observer sends STATUS_REQUEST instead of a HELLO;
// the receiver answers with its HELLO and one STATUS_REPORT, then closes.

export interface StatusRequest {
  /** The observer's process id, for logs (0 when unknown). Not a credential. */
  pid: number
  name?: string
}

/** A process at the other end of a channel, by the kernel's word; -1 where the kernel does not tell. */
export interface PeerSummary {
  pid: number
  uid: number
  gid: number
  /** The name from its HELLO, if any. */
  name?: string
}

export interface StatusReport extends Status {
  /** Handoffs accepted since the receiver started. */
  total: number
  /** HANDOFFs answered with REJECT. */
  rejected: number
  /** Sender channels open now (the observer's is not one). */
  peers: number
  /** Connecting processes refused for their credentials. */
  untrustedPeers: number
  /** The senders whose HELLO was accepted, as many as fit in the body (`peers` is the count). */
  senders: PeerSummary[]
  /** The receiver's process id. */
  pid: number
  /** When the receiver started listening, ms since the Unix epoch. */
  startedAt: number
  /** The receiver's software and version, e.g. "fastify-handoff 0.1.0 (node v20.19.0)". */
  implementation: string
  /** The name from the receiver's HELLO, if any. */
  name?: string
}

const MAX_ID = Number.MAX_SAFE_INTEGER

function validateStatusRequest (obj: JsonObject, fail: Fail): StatusRequest {
  const request: StatusRequest = { pid: getInteger(obj, 'pid', fail, 0, MAX_ID) }
  const name = getOptionalString(obj, 'name', fail, MAX_NAME_LENGTH)
  if (name !== undefined) request.name = name
  return request
}

export function encodeStatusRequest (request: StatusRequest): Buffer {
  const r = validateStatusRequest(asObject(request, 'STATUS_REQUEST'), encoderFail('STATUS_REQUEST'))
  return encodeControl(FrameType.StatusRequest, 0, compact([['pid', r.pid], ['name', r.name]]))
}

export function decodeStatusRequest (body: Buffer): StatusRequest {
  return validateStatusRequest(decodeControl(FrameType.StatusRequest, body), controlFail(FrameType.StatusRequest))
}

function validatePeerSummary (value: unknown, fail: Fail): PeerSummary {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('"senders" must hold objects')
  const obj = value as JsonObject
  const peer: PeerSummary = {
    pid: getInteger(obj, 'pid', fail, -1, MAX_ID),
    uid: getInteger(obj, 'uid', fail, -1, MAX_ID),
    gid: getInteger(obj, 'gid', fail, -1, MAX_ID)
  }
  const name = getOptionalString(obj, 'name', fail, MAX_NAME_LENGTH)
  if (name !== undefined) peer.name = name
  return peer
}

function validateStatusReport (obj: JsonObject, fail: Fail): StatusReport {
  const status = validateStatus(obj, fail)
  const count = (key: string): number => getInteger(obj, key, fail, 0, MAX_ID)
  if (!Array.isArray(obj.senders)) return fail('"senders" must be an array')
  const startedAt = obj.startedAt
  if (typeof startedAt !== 'number' || !Number.isFinite(startedAt) || startedAt < 0) {
    return fail('"startedAt" must be a finite number >= 0 (ms since the epoch)')
  }
  const report: StatusReport = {
    ...status,
    total: count('total'),
    rejected: count('rejected'),
    peers: count('peers'),
    untrustedPeers: count('untrustedPeers'),
    senders: obj.senders.map((peer) => validatePeerSummary(peer, fail)),
    pid: count('pid'),
    startedAt,
    implementation: getString(obj, 'implementation', fail, MAX_NAME_LENGTH, 1)
  }
  const name = getOptionalString(obj, 'name', fail, MAX_NAME_LENGTH)
  if (name !== undefined) report.name = name
  return report
}

function peerSummaryObject (p: PeerSummary): JsonObject {
  return compact([['pid', p.pid], ['uid', p.uid], ['gid', p.gid], ['name', p.name]])
}

/**
 * A whole STATUS_REPORT frame. The body is a control body (at most 16 KiB):
 * senders that would not fit are left out from the end (`peers` still
 * counts them), so a receiver with many senders, or long names, still
 * answers.
 */
export function encodeStatusReport (report: StatusReport): Buffer {
  const r = validateStatusReport(asObject(report, 'STATUS_REPORT'), encoderFail('STATUS_REPORT'))
  const head = compact([
    ['live', r.live], ['max', r.max], ['draining', r.draining], ['total', r.total], ['rejected', r.rejected],
    ['peers', r.peers], ['untrustedPeers', r.untrustedPeers], ['senders', []], ['pid', r.pid], ['startedAt', r.startedAt],
    ['implementation', r.implementation], ['name', r.name]
  ])
  let size = toJson(head, 'STATUS_REPORT').length
  const senders: JsonObject[] = []
  for (const peer of r.senders) {
    const entry = peerSummaryObject(peer)
    const entrySize = toJson(entry, 'STATUS_REPORT sender').length + (senders.length === 0 ? 0 : 1)
    if (size + entrySize > MAX_CONTROL_BODY_SIZE) break
    size += entrySize
    senders.push(entry)
  }
  return encodeControl(FrameType.StatusReport, 0, { ...head, senders })
}

export function decodeStatusReport (body: Buffer): StatusReport {
  return validateStatusReport(decodeControl(FrameType.StatusReport, body), controlFail(FrameType.StatusReport))
}

// ---------------------------------------------------------------------------
// Any frame

export type Message =
  | { type: FrameType.Hello, id: number, header: FrameHeader, body: Hello }
  | { type: FrameType.Handoff, id: number, header: FrameHeader, body: HandoffRequest }
  | { type: FrameType.Accept, id: number, header: FrameHeader, body: Accept }
  | { type: FrameType.Reject, id: number, header: FrameHeader, body: Reject }
  | { type: FrameType.Status, id: number, header: FrameHeader, body: Status }
  | { type: FrameType.Goodbye, id: number, header: FrameHeader, body: Goodbye }
  | { type: FrameType.Error, id: number, header: FrameHeader, body: ErrorBody }
  | { type: FrameType.StatusRequest, id: number, header: FrameHeader, body: StatusRequest }
  | { type: FrameType.StatusReport, id: number, header: FrameHeader, body: StatusReport }

export interface DecodeOptions {
  /** Descriptors that arrived with the frame (default: as many as it declares). */
  fds?: number
  /** The kernel truncated the descriptors (MSG_CTRUNC). */
  truncated?: boolean
  maxFrameSize?: number
  /**
   * The channel's version (default 1): every frame but HELLO, STATUS_REQUEST
   * and STATUS_REPORT must carry it in its header (fatal 'bad-version'), and
   * HANDOFF and ACCEPT bodies are read as that version writes them.
   */
  version?: number
}

/**
 * Decodes a whole frame as a Channel delivers it. Fatal errors: the header, or
 * the body of a control frame. Not fatal (REJECT with `err.reason` and
 * `err.id`): a HANDOFF whose descriptors or body are wrong.
 */
export function decodeMessage (frame: Buffer, options: DecodeOptions = {}): Message {
  const header = decodeHeader(frame, options.maxFrameSize ?? MAX_FRAME_SIZE)
  checkFrameLength(frame, header)
  const { id } = header
  const version = options.version ?? PROTOCOL_VERSION
  checkFrameVersion(header, version)
  // The handoff's two frames are read in place; the others from a view of their body.
  const body = (): Buffer => frame.subarray(HEADER_SIZE)
  try {
    switch (header.type) {
      case FrameType.Hello: return { type: header.type, id, header, body: decodeHello(body()) }
      case FrameType.Handoff:
        checkDescriptors(header, options.fds ?? header.fdCount, options.truncated === true)
        return { type: header.type, id, header, body: readHandoff(frame, HEADER_SIZE, version) }
      case FrameType.Accept:
        return { type: header.type, id, header, body: version === 1 ? decodeAccept(body()) : readAcceptV2(frame, HEADER_SIZE, acceptDecodeFail) }
      case FrameType.Reject: return { type: header.type, id, header, body: decodeReject(body()) }
      case FrameType.Status: return { type: header.type, id, header, body: decodeStatus(body()) }
      case FrameType.Goodbye: return { type: header.type, id, header, body: decodeGoodbye(body()) }
      case FrameType.Error: return { type: header.type, id, header, body: decodeError(body()) }
      case FrameType.StatusRequest: return { type: header.type, id, header, body: decodeStatusRequest(body()) }
      case FrameType.StatusReport: return { type: header.type, id, header, body: decodeStatusReport(body()) }
    }
  } catch (err) {
    if (isProtocolError(err) && err.id === undefined && id !== 0) err.id = id
    throw err
  }
}
