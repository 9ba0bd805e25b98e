import t from 'tap'
import {
  FrameType, HEADER_SIZE, MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_CONTROL_BODY_SIZE,
  MAX_META_SIZE, MAX_HEAD_SIZE, MAX_BUFFERED_SIZE, MAX_HANDOFF_FRAME_SIZE, REJECT_REASONS, DEFAULT_RETRYABLE,
  encodeHello, decodeHello, negotiateHello, encodeHandoff, decodeHandoff, handoffFrameSize, encodeAccept, decodeAccept,
  encodeReject, decodeReject, encodeStatus, decodeStatus, encodeGoodbye, decodeGoodbye, encodeError, decodeError,
  decodeMessage, decodeFrame, decodeHeader,
  ERR_HANDOFF_INVALID_ARG,
  type Hello, type HandoffRequest, type HandoffMeta, type Message
} from '../../plugin/protocol/index.js'
import { rawFrame, caught, caughtInvalid, throwsProtocol, HEAD, META } from './helpers.js'

const body = (frame: Buffer): Buffer => decodeFrame(frame).body
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

/** A HANDOFF body built by hand, so that lengths can lie. */
function handoffBody (sections: Array<Buffer | string>, lengths?: number[]): Buffer {
  return Buffer.concat(sections.flatMap((section, i) => {
    const bytes = typeof section === 'string' ? Buffer.from(section) : section
    const length = Buffer.alloc(4)
    length.writeUInt32BE(lengths?.[i] ?? bytes.length)
    return [length, bytes]
  }))
}

/** A valid body with one meta member replaced (undefined removes it). */
function metaBody (patch: Record<string, unknown>, head: Buffer = HEAD): Buffer {
  const meta: Record<string, unknown> = { ...META, ...patch }
  for (const key of Object.keys(patch)) if (patch[key] === undefined) delete meta[key]
  return handoffBody([json(meta), head, ''])
}

// ---------------------------------------------------------------------------
t.test('HELLO', async (t) => {
  t.test('round trip', async (t) => {
    const frame = encodeHello({ role: 'sender', pid: 1234 })
    t.same(decodeHeader(frame), { version: 1, type: FrameType.Hello, flags: 0, fdCount: 0, id: 0, bodyLength: frame.length - 16 })
    t.same(decodeHello(body(frame)),
      { protocol: 'fastify-handoff', version: 1, minVersion: 1, role: 'sender', pid: 1234, maxFrameSize: MAX_FRAME_SIZE })
    t.same(decodeHello(body(encodeHello({ role: 'receiver', pid: 0, maxFrameSize: MIN_MAX_FRAME_SIZE, name: 'ws-1' }))),
      { protocol: 'fastify-handoff', version: 1, minVersion: 1, role: 'receiver', pid: 0, maxFrameSize: MIN_MAX_FRAME_SIZE, name: 'ws-1' })
    t.equal(body(encodeHello({ role: 'sender', pid: 1, name: undefined })).toString(),
      '{"protocol":"fastify-handoff","version":1,"minVersion":1,"role":"sender","pid":1,"maxFrameSize":1048576}',
      'compact JSON, fixed member order, no undefined members')
  })

  t.test('unknown members are ignored; a future peer is readable', async (t) => {
    const hello = decodeHello(json({
      protocol: 'fastify-handoff', version: 3, minVersion: 1, role: 'receiver', pid: 9, maxFrameSize: MAX_MAX_FRAME_SIZE, extra: [1]
    }))
    t.same(hello, { protocol: 'fastify-handoff', version: 3, minVersion: 1, role: 'receiver', pid: 9, maxFrameSize: MAX_MAX_FRAME_SIZE })
  })

  t.test('invalid bodies are fatal (ERROR "bad-message")', async (t) => {
    const valid = { protocol: 'fastify-handoff', version: 1, minVersion: 1, role: 'sender', pid: 1, maxFrameSize: MAX_FRAME_SIZE }
    const cases: Array<[string, Buffer]> = [
      ['empty body', Buffer.alloc(0)],
      ['not JSON', Buffer.from('{protocol:')],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
      ['a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(valid)])],
      ['an array', json([valid])],
      ['null', json(null)],
      ['a string', json('hello')],
      ['another protocol', json({ ...valid, protocol: 'http' })],
      ['no protocol', json({ ...valid, protocol: undefined })],
      ['version 0', json({ ...valid, version: 0 })],
      ['version 256', json({ ...valid, version: 256 })],
      ['version 1.5', json({ ...valid, version: 1.5 })],
      ['version "1"', json({ ...valid, version: '1' })],
      ['no minVersion', json({ ...valid, minVersion: undefined })],
      ['minVersion above version', json({ ...valid, minVersion: 2 })],
      ['minVersion 0', json({ ...valid, minVersion: 0 })],
      ['role "both"', json({ ...valid, role: 'both' })],
      ['no role', json({ ...valid, role: undefined })],
      ['negative pid', json({ ...valid, pid: -1 })],
      ['pid as string', json({ ...valid, pid: '1' })],
      ['maxFrameSize below the minimum', json({ ...valid, maxFrameSize: MIN_MAX_FRAME_SIZE - 1 })],
      ['maxFrameSize above uint32', json({ ...valid, maxFrameSize: MAX_MAX_FRAME_SIZE + 1 })],
      ['empty name', json({ ...valid, name: '' })],
      ['name too long', json({ ...valid, name: 'x'.repeat(256) })],
      ['name of 256 code points outside the BMP (512 UTF-16 units)', json({ ...valid, name: '🦊'.repeat(256) })],
      ['name not a string', json({ ...valid, name: 5 })]
    ]
    for (const [what, bytes] of cases) {
      throwsProtocol(t, () => decodeHello(bytes),
        { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-message', fatal: true }, what)
    }
    t.ok(caught(t, () => decodeHello(Buffer.from('{'))).cause instanceof SyntaxError, 'the JSON error is the cause')
    t.equal(decodeHello(json({ ...valid, name: 'x'.repeat(255) })).name?.length, 255, 'the longest name')
    // PROTOCOL.md §2: string lengths count code points, as Python's len() does, not UTF-16 units.
    t.equal(decodeHello(json({ ...valid, name: '🦊'.repeat(255) })).name, '🦊'.repeat(255),
      'the longest name in code points outside the BMP (510 UTF-16 units)')
    t.equal(decodeHello(json({ ...valid, name: 'é🦊'.repeat(127) + 'x' })).name?.length, 127 * 3 + 1, 'mixed: 255 code points')
    throwsProtocol(t, () => decodeHello(Buffer.alloc(MAX_CONTROL_BODY_SIZE + 1, 0x20)),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: true }, 'body over 16 KiB')
  })

  t.test('encodeHello refuses what decodeHello would', async (t) => {
    for (const [what, init] of [
      ['bad role', { role: 'server', pid: 1 }],
      ['negative pid', { role: 'sender', pid: -5 }],
      ['fractional pid', { role: 'sender', pid: 1.5 }],
      ['small maxFrameSize', { role: 'sender', pid: 1, maxFrameSize: 1024 }],
      ['empty name', { role: 'sender', pid: 1, name: '' }],
      ['not an object', null]
    ] as const) {
      const err = caughtInvalid(t, () => encodeHello(init as never), what)
      t.ok(err instanceof ERR_HANDOFF_INVALID_ARG, what)
    }
  })

  t.test('negotiateHello', async (t) => {
    const peer = (role: 'sender' | 'receiver', minVersion: number, version: number): Hello =>
      ({ protocol: 'fastify-handoff', version, minVersion, role, pid: 1, maxFrameSize: MAX_FRAME_SIZE })
    const local = { role: 'receiver', version: 1, minVersion: 1 } as const
    t.equal(negotiateHello(local, peer('sender', 1, 1)), 1)
    t.equal(negotiateHello(local, peer('sender', 1, 5)), 1, 'a newer peer that still speaks 1')
    t.equal(negotiateHello({ role: 'sender', version: 4, minVersion: 2 }, peer('receiver', 1, 3)), 3, 'the highest common version')
    throwsProtocol(t, () => negotiateHello(local, peer('sender', 2, 5)),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'unsupported-version', fatal: true },
      'a peer that dropped 1')
    throwsProtocol(t, () => negotiateHello({ role: 'sender', version: 5, minVersion: 4 }, peer('receiver', 1, 3)),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'unsupported-version', fatal: true },
      'an older peer')
    throwsProtocol(t, () => negotiateHello(local, peer('receiver', 1, 1)),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'role-mismatch', fatal: true }, 'two receivers')
  })
})

// ---------------------------------------------------------------------------
t.test('HANDOFF', async (t) => {
  t.test('round trip', async (t) => {
    const request: HandoffRequest = { meta: META, head: HEAD, buffered: Buffer.from([0x81, 0x85, 0, 1, 2, 3]) }
    const frame = encodeHandoff(0xabcdef01, request)
    const header = decodeHeader(frame)
    t.same(header, { version: 1, type: FrameType.Handoff, flags: 0, fdCount: 1, id: 0xabcdef01, bodyLength: frame.length - 16 })
    const metaLength = Buffer.byteLength(JSON.stringify(META))
    t.equal(frame.length, handoffFrameSize(metaLength, HEAD.length, 6), 'handoffFrameSize')
    t.equal(frame.readUInt32BE(16), metaLength, 'first section: meta')
    t.equal(frame.readUInt32BE(20 + metaLength), HEAD.length, 'second section: head')
    t.equal(frame.readUInt32BE(24 + metaLength + HEAD.length), 6, 'third section: buffered')
    const decoded = decodeHandoff(body(frame))
    t.same(decoded.meta, META)
    t.same(decoded.head, HEAD)
    t.same(decoded.buffered, request.buffered)
    const message = decodeMessage(frame, { fds: 1 })
    t.equal(message.type, FrameType.Handoff)
    t.equal(message.id, 0xabcdef01)
    t.same(message.body, decoded)
  })

  t.test('minimal metadata, every kind, every context', async (t) => {
    for (const kind of ['upgrade', 'request', 'raw'] as const) {
      const meta: HandoffMeta = { kind, keepAlive: false, sentAt: 0 }
      const head = kind === 'raw' ? Buffer.alloc(0) : HEAD
      const decoded = decodeHandoff(body(encodeHandoff(1, { meta, head, buffered: Buffer.alloc(0) })))
      t.same(decoded.meta, meta, kind)
      t.notOk('context' in decoded.meta, 'no context member when none was given')
      t.equal(decoded.head.length, head.length)
      t.equal(decoded.buffered.length, 0)
    }
    t.same(decodeHandoff(body(encodeHandoff(1, { meta: { kind: 'raw', keepAlive: true, sentAt: 1.5 }, head: HEAD, buffered: HEAD }))).head,
      HEAD, 'a raw handoff may carry a head')
    for (const context of [null, 0, 'text', [1, [2]], { a: { b: { c: true } } }, false]) {
      const decoded = decodeHandoff(body(encodeHandoff(1, { meta: { ...META, context }, head: HEAD, buffered: Buffer.alloc(0) })))
      t.same(decoded.meta.context, context, `context ${JSON.stringify(context)}`)
    }
    t.same(decodeHandoff(metaBody({ extra: { x: 1 } })).meta, META, 'unknown members are ignored')
  })

  t.test('decoded head and buffered are copies', async (t) => {
    const frame = encodeHandoff(1, { meta: META, head: HEAD, buffered: Buffer.from('abc') })
    const decoded = decodeHandoff(body(frame))
    frame.fill(0)
    t.same(decoded.head, HEAD)
    t.equal(decoded.buffered.toString(), 'abc')
  })

  t.test('sections at their limits fit in a default frame', async (t) => {
    t.equal(MAX_HANDOFF_FRAME_SIZE, 655388)
    t.ok(MAX_HANDOFF_FRAME_SIZE <= MAX_FRAME_SIZE)
    const base = JSON.stringify({ kind: 'raw', keepAlive: false, sentAt: 0, context: '' })
    const meta: HandoffMeta = { kind: 'raw', keepAlive: false, sentAt: 0, context: 'x'.repeat(MAX_META_SIZE - base.length) }
    const frame = encodeHandoff(9, { meta, head: Buffer.alloc(MAX_HEAD_SIZE, 0x41), buffered: Buffer.alloc(MAX_BUFFERED_SIZE, 0x42) })
    t.equal(frame.length, MAX_HANDOFF_FRAME_SIZE, 'the largest HANDOFF')
    t.equal(frame.readUInt32BE(16), MAX_META_SIZE)
    const decoded = decodeHandoff(body(frame))
    t.equal(decoded.head.length, MAX_HEAD_SIZE)
    t.equal(decoded.buffered.length, MAX_BUFFERED_SIZE)
    t.equal(protocolLimitCheck(frame), true)
  })

  t.test('layout errors: REJECT "bad-frame", not fatal', async (t) => {
    const badFrame = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', fatal: false }
    const meta = json({ kind: 'raw', keepAlive: false, sentAt: 0 })
    const good = handoffBody([meta, '', 'xy'])
    t.doesNotThrow(() => decodeHandoff(good))
    const cases: Array<[string, Buffer]> = [
      ['empty body', Buffer.alloc(0)],
      ['3 bytes', Buffer.alloc(3)],
      ['meta overruns the body', handoffBody([meta], [meta.length + 1])],
      ['no head length', handoffBody([meta])],
      ['half a head length', Buffer.concat([handoffBody([meta]), Buffer.alloc(2)])],
      ['head overruns', handoffBody([meta, 'abc'], [meta.length, 4])],
      ['no buffered length', handoffBody([meta, ''])],
      ['buffered overruns', handoffBody([meta, '', 'xy'], [meta.length, 0, 3])],
      ['a trailing byte', Buffer.concat([good, Buffer.from([0])])],
      ['a fourth section', Buffer.concat([good, handoffBody([''])])]
    ]
    for (const [what, bytes] of cases) throwsProtocol(t, () => decodeHandoff(bytes), badFrame, what)
  })

  t.test('sections over their limits: REJECT "frame-too-large", not fatal', async (t) => {
    const tooLarge = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false }
    const meta = json({ kind: 'raw', keepAlive: false, sentAt: 0 })
    const cases: Array<[string, Buffer, number]> = [
      ['meta', handoffBody([Buffer.alloc(MAX_META_SIZE + 1, 0x20), '', '']), MAX_META_SIZE],
      ['head', handoffBody([meta, Buffer.alloc(MAX_HEAD_SIZE + 1), '']), MAX_HEAD_SIZE],
      ['buffered', handoffBody([meta, '', Buffer.alloc(MAX_BUFFERED_SIZE + 1)]), MAX_BUFFERED_SIZE],
      ['a declared length alone', handoffBody([meta, ''], [meta.length, 0xffffffff]), MAX_HEAD_SIZE]
    ]
    for (const [what, bytes, limit] of cases) {
      const err = throwsProtocol(t, () => decodeHandoff(bytes), tooLarge, what)
      t.equal(err.limit, limit, `${what}: limit`)
    }
  })

  t.test('bad metadata: REJECT "bad-metadata", not fatal', async (t) => {
    const badMeta = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-metadata', fatal: false }
    const cases: Array<[string, Buffer]> = [
      ['empty meta', handoffBody(['', HEAD, ''])],
      ['invalid UTF-8', handoffBody([Buffer.from([0x7b, 0xc3, 0x7d]), HEAD, ''])],
      ['not JSON', handoffBody(['{"kind":', HEAD, ''])],
      ['an array', handoffBody(['[]', HEAD, ''])],
      ['a number', handoffBody(['12', HEAD, ''])],
      ['no kind', metaBody({ kind: undefined })],
      ['unknown kind', metaBody({ kind: 'tunnel' })],
      ['kind not a string', metaBody({ kind: 1 })],
      ['upgrade without a head', metaBody({}, Buffer.alloc(0))],
      ['request without a head', metaBody({ kind: 'request' }, Buffer.alloc(0))],
      ['no keepAlive', metaBody({ keepAlive: undefined })],
      ['keepAlive as string', metaBody({ keepAlive: 'yes' })],
      ['no sentAt', metaBody({ sentAt: undefined })],
      ['negative sentAt', metaBody({ sentAt: -1 })],
      ['sentAt as string', metaBody({ sentAt: '2024' })],
      ['empty target', metaBody({ target: '' })],
      ['long target', metaBody({ target: 't'.repeat(256) })],
      ['target not a string', metaBody({ target: ['a'] })],
      ['null target', metaBody({ target: null })],
      ['remotePort 65536', metaBody({ remotePort: 65536 })],
      ['remotePort -1', metaBody({ remotePort: -1 })],
      ['remotePort 80.5', metaBody({ remotePort: 80.5 })],
      ['localPort as string', metaBody({ localPort: '80' })],
      ['remoteAddress as number', metaBody({ remoteAddress: 127001 })],
      ['empty localAddress', metaBody({ localAddress: '' })],
      ['family 4', metaBody({ family: 4 })],
      ['family "unix"', metaBody({ family: 'unix' })]
    ]
    for (const [what, bytes] of cases) throwsProtocol(t, () => decodeHandoff(bytes), badMeta, what)
  })

  t.test('encodeHandoff refuses what decodeHandoff would', async (t) => {
    const ok = { meta: META, head: HEAD, buffered: Buffer.alloc(0) }
    const invalid: Array<[string, () => unknown]> = [
      ['id 0', () => encodeHandoff(0, ok)],
      ['head not a Buffer', () => encodeHandoff(1, { ...ok, head: 'GET /' as unknown as Buffer })],
      ['buffered missing', () => encodeHandoff(1, { ...ok, buffered: undefined as unknown as Buffer })],
      ['meta missing', () => encodeHandoff(1, { ...ok, meta: undefined as unknown as HandoffMeta })],
      ['unknown kind', () => encodeHandoff(1, { ...ok, meta: { ...META, kind: 'tcp' as 'raw' } })],
      ['upgrade without head', () => encodeHandoff(1, { ...ok, head: Buffer.alloc(0) })],
      ['sentAt NaN', () => encodeHandoff(1, { ...ok, meta: { ...META, sentAt: NaN } })],
      ['sentAt Infinity', () => encodeHandoff(1, { ...ok, meta: { ...META, sentAt: Infinity } })],
      ['port 70000', () => encodeHandoff(1, { ...ok, meta: { ...META, remotePort: 70000 } })],
      ['context with a BigInt', () => encodeHandoff(1, { ...ok, meta: { ...META, context: { n: 1n } } })],
      ['a request that is not an object', () => encodeHandoff(1, null as unknown as HandoffRequest)]
    ]
    for (const [what, fn] of invalid) {
      const err = caughtInvalid(t, fn, what)
      t.ok(err instanceof ERR_HANDOFF_INVALID_ARG, what)
      t.equal(err.code, 'ERR_HANDOFF_INVALID_ARG', what)
    }
    const circular: Record<string, unknown> = {}
    circular.self = circular
    t.ok(caughtInvalid(t, () => encodeHandoff(1, { ...ok, meta: { ...META, context: circular } })).cause instanceof TypeError,
      'a circular context: the JSON error is the cause')
  })

  t.test('encodeHandoff: over a limit is not fatal and names the handoff', async (t) => {
    const tooLarge = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false, id: 5 }
    const ok = { meta: META, head: HEAD, buffered: Buffer.alloc(0) }
    throwsProtocol(t, () => encodeHandoff(5, { ...ok, head: Buffer.alloc(MAX_HEAD_SIZE + 1, 0x41) }), tooLarge, 'head')
    throwsProtocol(t, () => encodeHandoff(5, { ...ok, buffered: Buffer.alloc(MAX_BUFFERED_SIZE + 1) }), tooLarge, 'buffered')
    throwsProtocol(t, () => encodeHandoff(5, { ...ok, meta: { ...META, context: 'x'.repeat(MAX_META_SIZE) } }), tooLarge, 'meta')
    throwsProtocol(t, () => encodeHandoff(5, { ...ok, buffered: Buffer.alloc(MIN_MAX_FRAME_SIZE) }, MIN_MAX_FRAME_SIZE),
      tooLarge, 'over the peer\'s advertised maxFrameSize')
    t.equal(encodeHandoff(5, ok, MIN_MAX_FRAME_SIZE).readUInt8(3), FrameType.Handoff, 'fits in the smallest limit')
  })

  t.test('decodeMessage: descriptors and ids', async (t) => {
    const frame = encodeHandoff(31, { meta: META, head: HEAD, buffered: Buffer.alloc(0) })
    const desc = (reason: string) => ({ code: 'ERR_HANDOFF_PROTOCOL', reason, fatal: false, id: 31 })
    t.equal(decodeMessage(frame).type, FrameType.Handoff, 'default: as many as declared')
    throwsProtocol(t, () => decodeMessage(frame, { fds: 0 }), desc('descriptors-missing'), 'none came')
    throwsProtocol(t, () => decodeMessage(frame, { fds: 2 }), desc('too-many-descriptors'), 'two came')
    throwsProtocol(t, () => decodeMessage(frame, { fds: 1, truncated: true }), desc('descriptors-truncated'), 'MSG_CTRUNC')
    const b = body(frame)
    throwsProtocol(t, () => decodeMessage(rawFrame({ type: 2, id: 31, fdCount: 0 }, b)), desc('descriptors-missing'),
      'a HANDOFF declaring none')
    throwsProtocol(t, () => decodeMessage(rawFrame({ type: 2, id: 31, fdCount: 3 }, b)), desc('too-many-descriptors'),
      'a HANDOFF declaring three')
    throwsProtocol(t, () => decodeMessage(rawFrame({ type: 2, id: 31, fdCount: 1 }, Buffer.alloc(2))),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', fatal: false, id: 31 }, 'a bad body gets the id')
    throwsProtocol(t, () => decodeMessage(rawFrame({ type: 2, id: 31, fdCount: 1 }, handoffBody(['{}', HEAD, '']))),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-metadata', fatal: false, id: 31 }, 'bad metadata gets the id')
    throwsProtocol(t, () => decodeMessage(Buffer.concat([Buffer.from('HX'), frame.subarray(2)])),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-magic', fatal: true }, 'header errors stay fatal')
    t.equal(caught(t, () => decodeMessage(frame, { maxFrameSize: frame.length - 1 })).reason,
      'frame-too-large', 'maxFrameSize option')
    t.equal(decodeMessage(frame, { maxFrameSize: frame.length }).id, 31)
  })
})

/** Re-reading the largest frame through the whole decoder. */
function protocolLimitCheck (frame: Buffer): boolean {
  return decodeMessage(frame).type === FrameType.Handoff
}

// ---------------------------------------------------------------------------
t.test('ACCEPT, REJECT, STATUS, GOODBYE, ERROR', async (t) => {
  t.test('round trips', async (t) => {
    t.same(decodeAccept(body(encodeAccept(7, { live: 3, max: 100 }))), { live: 3, max: 100 })
    t.same(decodeAccept(body(encodeAccept(7, { live: 0, max: null }))), { live: 0, max: null })
    t.equal(decodeHeader(encodeAccept(7, { live: 0, max: null })).id, 7)
    t.same(decodeReject(body(encodeReject(8, { reason: 'bad-metadata', message: 'no kind', retryable: true }))),
      { reason: 'bad-metadata', message: 'no kind', retryable: true }, 'explicit retryable wins')
    t.same(decodeReject(body(encodeReject(8, { reason: 'future-reason-2' }))),
      { reason: 'future-reason-2', message: '', retryable: false }, 'an unknown reason: not retryable by default')
    t.same(decodeStatus(body(encodeStatus({ live: 10, max: 10, draining: true }))), { live: 10, max: 10, draining: true })
    t.same(decodeStatus(body(encodeStatus({ live: 0, max: null, draining: false }))), { live: 0, max: null, draining: false })
    t.same(decodeGoodbye(body(encodeGoodbye({ reason: 'draining' }))), { reason: 'draining', message: '' })
    t.same(decodeGoodbye(body(encodeGoodbye({ reason: 'shutdown', message: 'SIGTERM' }))), { reason: 'shutdown', message: 'SIGTERM' })
    t.same(decodeError(body(encodeError({ reason: 'unsupported-version', message: 'we speak 1' }))),
      { reason: 'unsupported-version', message: 'we speak 1' })
    t.same(decodeError(body(encodeError({ reason: 'timeout' }))), { reason: 'timeout', message: '' })
    t.equal(body(encodeStatus({ live: 1, max: 2, draining: false })).toString(), '{"live":1,"max":2,"draining":false}')
    t.equal(body(encodeError({ reason: 'internal', message: 'x' })).toString(), '{"reason":"internal","message":"x"}')
  })

  t.test('REJECT: default retryable for every reason of version 1', async (t) => {
    t.same(Object.keys(DEFAULT_RETRYABLE).sort(), [...REJECT_REASONS].sort())
    for (const reason of REJECT_REASONS) {
      t.equal(decodeReject(body(encodeReject(1, { reason }))).retryable, DEFAULT_RETRYABLE[reason], reason)
    }
    t.same(REJECT_REASONS.filter((reason) => DEFAULT_RETRYABLE[reason]), ['capacity', 'draining', 'descriptors-truncated'])
  })

  t.test('invalid bodies are fatal (ERROR "bad-message")', async (t) => {
    const fatal = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-message', fatal: true }
    const cases: Array<[string, (b: Buffer) => unknown, unknown]> = [
      ['ACCEPT without max', decodeAccept, { live: 1 }],
      ['ACCEPT negative live', decodeAccept, { live: -1, max: null }],
      ['ACCEPT fractional max', decodeAccept, { live: 1, max: 2.5 }],
      ['ACCEPT max as string', decodeAccept, { live: 1, max: '10' }],
      ['ACCEPT as array', decodeAccept, [1, 2]],
      ['REJECT without reason', decodeReject, { message: '', retryable: false }],
      ['REJECT upper-case reason', decodeReject, { reason: 'Capacity', message: '', retryable: false }],
      ['REJECT reason with space', decodeReject, { reason: 'no room', message: '', retryable: false }],
      ['REJECT reason starting with a digit', decodeReject, { reason: '1x', message: '', retryable: false }],
      ['REJECT empty reason', decodeReject, { reason: '', message: '', retryable: false }],
      ['REJECT reason of 65 characters', decodeReject, { reason: 'a'.repeat(65), message: '', retryable: false }],
      ['REJECT without message', decodeReject, { reason: 'capacity', retryable: true }],
      ['REJECT retryable as string', decodeReject, { reason: 'capacity', message: '', retryable: 'true' }],
      ['REJECT without retryable', decodeReject, { reason: 'capacity', message: '' }],
      ['STATUS without draining', decodeStatus, { live: 1, max: 1 }],
      ['STATUS draining as 0', decodeStatus, { live: 1, max: 1, draining: 0 }],
      ['STATUS live too large', decodeStatus, { live: 2 ** 53, max: null, draining: false }],
      ['GOODBYE without reason', decodeGoodbye, { message: 'bye' }],
      ['GOODBYE message as null', decodeGoodbye, { reason: 'shutdown', message: null }],
      ['ERROR reason as number', decodeError, { reason: 500, message: '' }],
      ['ERROR as string', decodeError, 'error']
    ]
    for (const [what, decode, value] of cases) throwsProtocol(t, () => decode(json(value)), fatal, what)
    for (const decode of [decodeAccept, decodeReject, decodeStatus, decodeGoodbye, decodeError]) {
      throwsProtocol(t, () => decode(Buffer.from('not json')), fatal, `${decode.name}: not JSON`)
      throwsProtocol(t, () => decode(Buffer.from([0xfe])), fatal, `${decode.name}: not UTF-8`)
      throwsProtocol(t, () => decode(Buffer.alloc(MAX_CONTROL_BODY_SIZE + 1, 0x20)),
        { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: true },
        `${decode.name}: over 16 KiB`)
    }
    t.equal(decodeReject(json({ reason: 'a'.repeat(64), message: '', retryable: false, more: 1 })).reason.length, 64,
      'the longest reason; unknown members ignored')
    t.same(decodeAccept(Buffer.from(' {"live":1,"max":null}\n')), { live: 1, max: null }, 'whitespace around JSON is fine')
  })

  t.test('encoders refuse what decoders would', async (t) => {
    const invalid: Array<[string, () => unknown]> = [
      ['ACCEPT id 0', () => encodeAccept(0, { live: 1, max: null })],
      ['ACCEPT negative live', () => encodeAccept(1, { live: -1, max: null })],
      ['ACCEPT max undefined', () => encodeAccept(1, { live: 1 } as never)],
      ['REJECT id 0', () => encodeReject(0, { reason: 'capacity' })],
      ['REJECT bad reason', () => encodeReject(1, { reason: 'Capacity!' })],
      ['REJECT message not a string', () => encodeReject(1, { reason: 'capacity', message: 5 as unknown as string })],
      ['STATUS draining missing', () => encodeStatus({ live: 1, max: 1 } as never)],
      ['GOODBYE empty reason', () => encodeGoodbye({ reason: '' })],
      ['ERROR reason too long', () => encodeError({ reason: 'x'.repeat(65) })],
      ['ERROR not an object', () => encodeError(undefined as never)]
    ]
    for (const [what, fn] of invalid) t.ok(caughtInvalid(t, fn, what) instanceof ERR_HANDOFF_INVALID_ARG, what)
    throwsProtocol(t, () => encodeReject(4, { reason: 'internal', message: 'x'.repeat(MAX_CONTROL_BODY_SIZE) }),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false, id: 4 },
      'a message too long for a control body')
    throwsProtocol(t, () => encodeError({ reason: 'internal', message: 'x'.repeat(MAX_CONTROL_BODY_SIZE) }),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false, id: undefined },
      'an ERROR too long')
  })
})

// ---------------------------------------------------------------------------
t.test('decodeMessage narrows by type', async (t) => {
  const frames: Array<[Buffer, FrameType, number]> = [
    [encodeHello({ role: 'receiver', pid: 5 }), FrameType.Hello, 0],
    [encodeHandoff(2, { meta: META, head: HEAD, buffered: Buffer.alloc(0) }), FrameType.Handoff, 2],
    [encodeAccept(3, { live: 1, max: null }), FrameType.Accept, 3],
    [encodeReject(4, { reason: 'capacity' }), FrameType.Reject, 4],
    [encodeStatus({ live: 1, max: null, draining: false }), FrameType.Status, 0],
    [encodeGoodbye({ reason: 'shutdown' }), FrameType.Goodbye, 0],
    [encodeError({ reason: 'internal' }), FrameType.Error, 0]
  ]
  for (const [frame, type, id] of frames) {
    const message: Message = decodeMessage(frame)
    t.equal(message.type, type)
    t.equal(message.id, id)
    t.equal(message.header.bodyLength, frame.length - HEADER_SIZE)
    switch (message.type) {
      case FrameType.Hello: t.equal(message.body.role, 'receiver'); break
      case FrameType.Handoff: t.same(message.body.meta, META); break
      case FrameType.Accept: t.equal(message.body.max, null); break
      case FrameType.Reject: t.equal(message.body.retryable, true); break
      case FrameType.Status: t.equal(message.body.draining, false); break
      case FrameType.Goodbye: t.equal(message.body.reason, 'shutdown'); break
      case FrameType.Error: t.equal(message.body.reason, 'internal'); break
    }
  }
  const err = caught(t, () => decodeMessage(rawFrame({ type: 3, id: 9 }, '{"live":1}')))
  t.equal(err.fatal, true, 'a bad ACCEPT is fatal')
  t.equal(err.id, 9, 'and still names the frame')
  t.equal(caught(t, () => decodeMessage(rawFrame({ type: 5 }, 'x'))).id, undefined, 'connection-level frames have no id')
})
