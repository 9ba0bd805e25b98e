// The takeover control channel's frames (PROTOCOL.md, "Listener takeover"):
// the 16-byte header of the handoff protocol, with the types reserved for
// takeover (16–23) and a JSON body. A channel of its own (a private control
// socket), so it needs no HELLO: ASK names the protocol and its version.
import { allocFrame, MAGIC, PROTOCOL_VERSION, type FrameType } from '../protocol/frame.js'
import { HEADER_SIZE, MAX_FDS_PER_FRAME } from '../protocol/limits.js'
import type { Framer } from '../framer.js'
import { ERR_HANDOFF_TAKEOVER_PROTOCOL } from '../errors.js'

export const TAKEOVER_PROTOCOL = 'fastify-handoff/takeover'
export const TAKEOVER_VERSION = 1

export enum TakeoverType {
  /** successor → running: "hand me your listeners" */
  Ask = 16,
  /** running → successor: the listeners, one descriptor each, in the order of `listeners` */
  Offer = 17,
  /** successor → running: "I accept on every listener" */
  Ready = 18,
  /** running → successor: "I stop accepting; they are yours" */
  Commit = 19,
  /** running → successor: "too late, or something failed: I keep them; stop using them" */
  Abort = 20,
  /** running → successor: "no" (unauthorized, busy, bad version), instead of an OFFER */
  Refuse = 21
}

const NAMES: Record<number, string> = {
  16: 'ASK', 17: 'OFFER', 18: 'READY', 19: 'COMMIT', 20: 'ABORT', 21: 'REFUSE'
}

/** Bodies are small JSON objects: a listener list is the largest. */
export const MAX_TAKEOVER_BODY = 64 * 1024

export type ListenerKind = 'tcp' | 'unix' | 'control'

/** One listener as OFFER describes it; its descriptor travels in the same frame, at the same index. */
export interface OfferedListener {
  /** The application's name for it ("http", "admin"), unique in one OFFER; "control" is the takeover socket itself. */
  name: string
  kind: ListenerKind
  /** "127.0.0.1:3000", "[::1]:3000" or a socket path, for logs and checks. */
  address: string
  /** A Unix socket file's identity as decimal strings: the successor removes the file at its last close only while the name holds it. */
  dev?: string
  ino?: string
}

export interface Ask { protocol: string, version: number, pid: number, name?: string }
export interface Offer { pid: number, generation: number, listeners: OfferedListener[] }
export interface Ready { pid: number }
export interface Reason { reason: string, message: string }

export type TakeoverMessage =
  | { type: TakeoverType.Ask, body: Ask }
  | { type: TakeoverType.Offer, body: Offer }
  | { type: TakeoverType.Ready, body: Ready }
  | { type: TakeoverType.Commit, body: Record<string, never> }
  | { type: TakeoverType.Abort, body: Reason }
  | { type: TakeoverType.Refuse, body: Reason }

export function typeName (type: number): string { return NAMES[type] ?? `type ${type}` }

function isTakeoverType (type: number): type is TakeoverType { return type in NAMES }

/** Cuts the control channel into frames; any header it cannot trust ends the channel. */
export const takeoverFramer: Framer = Object.freeze({
  headerSize: HEADER_SIZE,
  maxFrameSize: HEADER_SIZE + MAX_TAKEOVER_BODY,
  parse (header: Buffer): { frameSize: number, fdCount: number } {
    const h = readHeader(header)
    return { frameSize: HEADER_SIZE + h.bodyLength, fdCount: h.fdCount }
  }
})

function readHeader (buf: Buffer): { type: TakeoverType, fdCount: number, bodyLength: number } {
  const bad = (why: string): never => { throw new ERR_HANDOFF_TAKEOVER_PROTOCOL(why) }
  if (buf.readUInt16BE(0) !== MAGIC) bad('bad magic')
  if (buf[2] !== PROTOCOL_VERSION) bad(`frame version ${buf[2]}`)
  const type = buf[3]
  if (!isTakeoverType(type)) bad(`frame type ${type} is not a takeover frame (16–21)`)
  if (buf[4] !== 0 || buf.readUInt16BE(6) !== 0 || buf.readUInt32BE(8) !== 0) bad(`${typeName(type)}: flags, reserved and id must be 0`)
  const fdCount = buf[5]
  if (fdCount > MAX_FDS_PER_FRAME) bad(`${typeName(type)}: ${fdCount} descriptors`)
  if (fdCount !== 0 && type !== TakeoverType.Offer) bad(`${typeName(type)} carries no descriptors, got ${fdCount}`)
  const bodyLength = buf.readUInt32BE(12)
  if (bodyLength > MAX_TAKEOVER_BODY) bad(`${typeName(type)}: body of ${bodyLength} bytes`)
  return { type: type as TakeoverType, fdCount, bodyLength }
}

export function encode (message: TakeoverMessage, fdCount = 0): Buffer {
  const body = Buffer.from(JSON.stringify(message.body))
  if (body.length > MAX_TAKEOVER_BODY) throw new ERR_HANDOFF_TAKEOVER_PROTOCOL(`${typeName(message.type)} body too large`)
  // The header layout is the handoff protocol's; only the type range differs.
  const frame = allocFrame(message.type as number as FrameType, 0, body.length, fdCount)
  body.copy(frame, HEADER_SIZE)
  return frame
}

/** A whole frame as the Channel delivers it, checked field by field. */
export function decode (frame: Buffer, fds: readonly number[]): TakeoverMessage {
  const { type, fdCount } = readHeader(frame)
  const bad = (why: string): never => { throw new ERR_HANDOFF_TAKEOVER_PROTOCOL(`${typeName(type)}: ${why}`) }
  let body: any
  try { body = JSON.parse(frame.subarray(HEADER_SIZE).toString('utf8')) } catch { bad('body is not JSON') }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body is not an object')
  const int = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0
  const str = (v: unknown): boolean => typeof v === 'string' && v.length <= 4096
  switch (type) {
    case TakeoverType.Ask:
      if (!str(body.protocol) || !int(body.version) || !int(body.pid)) bad('needs protocol, version, pid')
      return { type, body }
    case TakeoverType.Offer: {
      if (!int(body.pid) || !int(body.generation) || !Array.isArray(body.listeners)) bad('needs pid, generation, listeners')
      const names = new Set<string>()
      for (const l of body.listeners) {
        if (typeof l !== 'object' || l === null || !str(l.name) || !str(l.address) ||
          !['tcp', 'unix', 'control'].includes(l.kind) || names.has(l.name)) bad('a listener needs a unique name, a kind and an address')
        names.add(l.name)
      }
      if (body.listeners.length !== fdCount || fds.length !== fdCount) {
        bad(`${body.listeners.length} listeners, ${fdCount} descriptors declared, ${fds.length} received`)
      }
      return { type, body }
    }
    case TakeoverType.Ready:
      if (!int(body.pid)) bad('needs pid')
      return { type, body }
    case TakeoverType.Commit:
      return { type, body: {} }
    default:
      if (!str(body.reason) || !str(body.message)) bad('needs reason and message')
      return { type, body }
  }
}
