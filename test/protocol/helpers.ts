// Shared by the protocol tests: catching typed errors and crafting raw frames
// that no encoder would produce.
import type { Test } from 'tap'
import { ERR_HANDOFF_INVALID_ARG, HEADER_SIZE, isProtocolError, type HandoffMeta, type HandoffProtocolError } from '../../plugin/protocol/index.js'

/** A request head and metadata with every member of §6.2 (the codec tests of both versions round-trip them). */
export const HEAD = Buffer.from('GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
export const META: HandoffMeta = {
  kind: 'upgrade',
  target: 'chat',
  keepAlive: true,
  sentAt: 1700000000123,
  remoteAddress: '2001:db8::1',
  remotePort: 443,
  localAddress: '2001:db8::2',
  localPort: 8443,
  family: 'IPv6',
  context: { user: { id: 7, roles: ['a', 'b'] }, note: 'é ✓ \u0000', n: null }
}

export interface RawHeader {
  magic?: number
  version?: number
  type?: number
  flags?: number
  fdCount?: number
  reserved?: number
  id?: number
  bodyLength?: number
}

/** A header with every field settable (defaults: a valid HELLO header with an empty body). */
export function rawHeader (h: RawHeader = {}): Buffer {
  const b = Buffer.alloc(HEADER_SIZE)
  b.writeUInt16BE(h.magic ?? 0x484f, 0)
  b.writeUInt8(h.version ?? 1, 2)
  b.writeUInt8(h.type ?? 1, 3)
  b.writeUInt8(h.flags ?? 0, 4)
  b.writeUInt8(h.fdCount ?? 0, 5)
  b.writeUInt16BE(h.reserved ?? 0, 6)
  b.writeUInt32BE(h.id ?? 0, 8)
  b.writeUInt32BE(h.bodyLength ?? 0, 12)
  return b
}

/** A whole frame whose bodyLength matches `body`. */
export function rawFrame (h: RawHeader, body: Buffer | string): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  return Buffer.concat([rawHeader({ ...h, bodyLength: bytes.length }), bytes])
}

function thrown<E> (t: Test, fn: () => unknown, is: (err: unknown) => err is E, what: string, message?: string): E {
  try {
    fn()
  } catch (err) {
    if (is(err)) return err
    t.fail(`${message ?? `expected ${what}`}: got ${String(err)}`)
    throw err
  }
  t.fail(`${message ?? `expected ${what}`}: nothing was thrown`)
  throw new Error('nothing thrown')
}

/** The protocol violation (ERR_HANDOFF_PROTOCOL) `fn` throws (fails the test if it throws nothing or something else). */
export function caught (t: Test, fn: () => unknown, message?: string): HandoffProtocolError {
  return thrown(t, fn, isProtocolError, 'a protocol violation', message)
}

/** The encoder's ERR_HANDOFF_INVALID_ARG `fn` throws (fails the test if it throws nothing or something else). */
export function caughtInvalid (t: Test, fn: () => unknown, message?: string): Error & { code: string } {
  const isInvalid = (err: unknown): err is Error & { code: string } => err instanceof ERR_HANDOFF_INVALID_ARG
  return thrown(t, fn, isInvalid, 'ERR_HANDOFF_INVALID_ARG', message)
}

/** Asserts the protocol violation `fn` throws has these properties. */
export function throwsProtocol (t: Test, fn: () => unknown,
  expected: { code: string, fatal: boolean, reason: string, id?: number },
  message: string): HandoffProtocolError {
  const err = caught(t, fn, message)
  t.match({ code: err.code, fatal: err.fatal, reason: err.reason },
    { code: expected.code, fatal: expected.fatal, reason: expected.reason }, message)
  if ('id' in expected) t.equal(err.id, expected.id, `${message}: id`)
  return err
}
