// Protocol version 2 (PROTOCOL.md §14) in the codec: the binary HANDOFF
// metadata and ACCEPT body, round trips of every meta shape (the same values
// as version 1's JSON, by construction), every malformed body with the error
// kind version 1 gives, and the header version rules of §5. Pure: the
// channels that negotiate a version are in negotiation.test.ts.
import t from 'tap'
import {
  FrameType, HEADER_SIZE, MAX_META_SIZE, MAX_HEAD_SIZE, MAX_BUFFERED_SIZE, MAX_HANDOFF_FRAME_SIZE, MIN_MAX_FRAME_SIZE,
  MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION, PROTOCOL_VERSION,
  encodeHello, decodeHello, negotiateHello, encodeHandoff, decodeHandoff, encodeAccept, decodeAccept, encodeReject, encodeStatus,
  encodeGoodbye, encodeError, encodeFrame, decodeMessage, decodeFrame, decodeHeader, encodeStatusReport, encodeStatusRequest,
  ERR_HANDOFF_INVALID_ARG,
  type HandoffRequest, type HandoffMeta
} from '../../plugin/protocol/index.js'
import { META_V2_FIXED_SIZE, ACCEPT_V2_SIZE } from '../../plugin/protocol/binary.js'
import { rawFrame, caught, caughtInvalid, throwsProtocol, HEAD, META as ALL_MEMBERS } from './helpers.js'

const body = (frame: Buffer): Buffer => decodeFrame(frame).body
const NONE = Buffer.alloc(0)
const META: HandoffMeta = { ...ALL_MEMBERS, deadline: 1700000005123.5 }

/** Every shape of metadata version 1 can carry. */
const SHAPES: Array<[string, HandoffMeta, Buffer]> = [
  ['everything', META, HEAD],
  ['minimal upgrade', { kind: 'upgrade', keepAlive: false, sentAt: 0 }, HEAD],
  ['minimal request', { kind: 'request', keepAlive: true, sentAt: 1 }, HEAD],
  ['minimal raw, no head', { kind: 'raw', keepAlive: false, sentAt: 1.5 }, NONE],
  ['raw with a head', { kind: 'raw', keepAlive: true, sentAt: 2 }, HEAD],
  ['websocket with resume', { kind: 'websocket', keepAlive: true, sentAt: 3, resume: { extensions: 'permessage-deflate', n: [1, 2] } }, HEAD],
  ['IPv4, ports 0 and 65535', { kind: 'request', keepAlive: false, sentAt: 4, remoteAddress: '127.0.0.1', remotePort: 0, localAddress: '127.0.0.1', localPort: 65535, family: 'IPv4' }, HEAD],
  ['family alone', { kind: 'raw', keepAlive: false, sentAt: 5, family: 'IPv6' }, NONE],
  ['ports alone', { kind: 'raw', keepAlive: false, sentAt: 5, remotePort: 1, localPort: 2 }, NONE],
  ['deadline 0', { kind: 'raw', keepAlive: false, sentAt: 0, deadline: 0 }, NONE],
  ['non-ASCII strings', { kind: 'request', keepAlive: true, sentAt: 6, target: 'salle-é-✓-😀', remoteAddress: 'fe80::1%tête' }, HEAD],
  ['strings of 255 code points, 4 bytes each', { kind: 'raw', keepAlive: false, sentAt: 7, target: '😀'.repeat(255), localAddress: '😀'.repeat(255) }, NONE],
  ['the largest sentAt', { kind: 'raw', keepAlive: false, sentAt: Number.MAX_VALUE }, NONE]
]
const CONTEXTS: unknown[] = [null, 0, -1.25, 'text', '', [1, [2]], {}, { a: { b: { c: true } } }, false, true, 'é\u2028😀']

function v2 (meta: HandoffMeta, head: Buffer = HEAD, buffered: Buffer = NONE, id = 1): Buffer {
  return encodeHandoff(id, { meta, head, buffered }, undefined, 2)
}

/** The metadata section of a version 2 HANDOFF frame, to patch. */
function metaOf (frame: Buffer): Buffer {
  return Buffer.from(frame.subarray(HEADER_SIZE + 4, HEADER_SIZE + 4 + frame.readUInt32BE(HEADER_SIZE)))
}

/** A version 2 HANDOFF body around `meta` bytes (the three sections of §6.2). */
function bodyWith (meta: Buffer, head: Buffer = HEAD, buffered: Buffer = NONE): Buffer {
  const len = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
  return Buffer.concat([len(meta.length), meta, len(head.length), head, len(buffered.length), buffered])
}

/** A metadata section built field by field, so that any field can lie. */
interface RawMeta {
  kind?: number
  flags?: number
  remotePort?: number
  localPort?: number
  sentAt?: number
  deadline?: number
  strings?: [Buffer, Buffer, Buffer]
  context?: Buffer
  extra?: Buffer
  lengths?: Partial<Record<'target' | 'remoteAddress' | 'localAddress' | 'context' | 'extra', number>>
}

function rawMeta (m: RawMeta = {}): Buffer {
  const [target, remote, local] = m.strings ?? [NONE, NONE, NONE]
  const context = m.context ?? NONE
  const extra = m.extra ?? NONE
  const fixed = Buffer.alloc(META_V2_FIXED_SIZE)
  fixed[0] = m.kind ?? 3
  fixed[1] = m.flags ?? 0
  fixed.writeUInt16BE(m.remotePort ?? 0, 2)
  fixed.writeUInt16BE(m.localPort ?? 0, 4)
  fixed.writeUInt16BE(m.lengths?.target ?? target.length, 6)
  fixed.writeUInt16BE(m.lengths?.remoteAddress ?? remote.length, 8)
  fixed.writeUInt16BE(m.lengths?.localAddress ?? local.length, 10)
  fixed.writeUInt32BE(m.lengths?.context ?? context.length, 12)
  fixed.writeUInt32BE(m.lengths?.extra ?? extra.length, 16)
  fixed.writeDoubleBE(m.sentAt ?? 0, 20)
  fixed.writeDoubleBE(m.deadline ?? 0, 28)
  return Buffer.concat([fixed, target, remote, local, context, extra])
}

// ---------------------------------------------------------------------------
t.test('HANDOFF version 2: round trips of every meta shape, equal to version 1', async (t) => {
  for (const [what, meta, head] of SHAPES) {
    const buffered = Buffer.from([0x81, 0x85, 0, 1, 2, 3])
    const frame = v2(meta, head, buffered, 0xabcdef01)
    t.same(decodeHeader(frame), { version: 2, type: FrameType.Handoff, flags: 0, fdCount: 1, id: 0xabcdef01, bodyLength: frame.length - 16 }, what)
    const decoded = decodeHandoff(body(frame), 2)
    t.same(decoded.meta, meta, `${what}: meta`)
    t.same(Object.keys(decoded.meta).sort(), Object.keys(meta).sort(), `${what}: no member added`)
    t.same(decoded.head, head, `${what}: head`)
    t.same(decoded.buffered, buffered, `${what}: buffered`)
    const v1 = decodeHandoff(body(encodeHandoff(1, { meta, head, buffered })))
    t.same(decoded, v1, `${what}: what version 1 carries`)
    const message = decodeMessage(frame, { fds: 1, version: 2 })
    t.equal(message.type, FrameType.Handoff)
    t.same(message.body, decoded)
  }
  for (const [i, context] of CONTEXTS.entries()) {
    const decoded = decodeHandoff(body(v2({ ...META, context })), 2)
    // (the index names it: a U+2028 in a test name would cut the TAP line)
    t.same(decoded.meta.context, context, `context #${i}`)
    t.ok('context' in decoded.meta, 'present, even when falsy')
  }
  t.notOk('context' in decodeHandoff(body(v2({ kind: 'raw', keepAlive: false, sentAt: 0, context: undefined })), 2).meta,
    'context undefined: absent, as in version 1')
  t.notOk('context' in decodeHandoff(body(v2({ kind: 'raw', keepAlive: false, sentAt: 0, context: () => 1 })), 2).meta,
    'a context JSON cannot write (a function): absent, as version 1\'s JSON.stringify drops it')
})

t.test('HANDOFF version 2: the layout of §14', async (t) => {
  const frame = v2(META)
  const meta = metaOf(frame)
  t.equal(meta[0], 1, 'kind upgrade = 1')
  t.equal(meta[1], 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20, 'flags: keepAlive, deadline, both ports, family IPv6')
  t.equal(meta.readUInt16BE(2), 443)
  t.equal(meta.readUInt16BE(4), 8443)
  t.equal(meta.readUInt16BE(6), 4, 'targetLength')
  t.equal(meta.readUInt16BE(8), 11, 'remoteAddressLength')
  t.equal(meta.readUInt16BE(10), 11, 'localAddressLength')
  const context = JSON.stringify(META.context)
  t.equal(meta.readUInt32BE(12), Buffer.byteLength(context), 'contextLength')
  t.equal(meta.readUInt32BE(16), 0, 'no extra section')
  t.equal(meta.readDoubleBE(20), META.sentAt)
  t.equal(meta.readDoubleBE(28), META.deadline)
  t.equal(meta.subarray(36).toString(), `chat2001:db8::12001:db8::2${context}`, 'the strings, then the context, in order')
  t.equal(meta.length, META_V2_FIXED_SIZE + 4 + 11 + 11 + Buffer.byteLength(context))
  const minimal = metaOf(v2({ kind: 'raw', keepAlive: false, sentAt: 0 }, NONE))
  t.same(minimal, Buffer.concat([Buffer.from([3, 0]), Buffer.alloc(34)]), 'the minimal metadata: kind raw, all else 0')
  const ws = metaOf(v2({ kind: 'websocket', keepAlive: false, sentAt: 0, resume: { a: 1 } }))
  t.equal(ws[0], 4, 'kind websocket = 4')
  t.equal(ws.subarray(36).toString(), '{"resume":{"a":1}}', 'resume travels in the extra object')
  t.equal(metaOf(v2({ kind: 'request', keepAlive: false, sentAt: 0, family: 'IPv4' }))[1], 0x10, 'IPv4: the family bit alone')
})

t.test('HANDOFF version 2: sections at their limits', async (t) => {
  const meta: HandoffMeta = { kind: 'raw', keepAlive: false, sentAt: 0, context: 'x'.repeat(MAX_META_SIZE - META_V2_FIXED_SIZE - 2) }
  const frame = encodeHandoff(9, { meta, head: Buffer.alloc(MAX_HEAD_SIZE, 0x41), buffered: Buffer.alloc(MAX_BUFFERED_SIZE, 0x42) }, undefined, 2)
  t.equal(frame.length, MAX_HANDOFF_FRAME_SIZE, 'the largest HANDOFF is the same size in both versions')
  t.equal(frame.readUInt32BE(16), MAX_META_SIZE)
  t.equal(decodeMessage(frame, { version: 2 }).type, FrameType.Handoff)
  const tooLarge = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false, id: 5 }
  throwsProtocol(t, () => encodeHandoff(5, { meta: { ...meta, context: `${meta.context as string}y` }, head: NONE, buffered: NONE }, undefined, 2),
    tooLarge, 'one byte of meta more')
  throwsProtocol(t, () => encodeHandoff(5, { meta, head: Buffer.alloc(MAX_HEAD_SIZE + 1), buffered: NONE }, undefined, 2), tooLarge, 'head')
  throwsProtocol(t, () => encodeHandoff(5, { meta, head: NONE, buffered: Buffer.alloc(MIN_MAX_FRAME_SIZE) }, MIN_MAX_FRAME_SIZE, 2),
    tooLarge, 'over the peer\'s maxFrameSize')
  const over = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false }
  throwsProtocol(t, () => decodeHandoff(bodyWith(Buffer.alloc(MAX_META_SIZE + 1)), 2), over, 'a meta section over 64 KiB')
  throwsProtocol(t, () => decodeHandoff(bodyWith(rawMeta(), Buffer.alloc(MAX_HEAD_SIZE + 1)), 2), over, 'a head over 64 KiB')
})

t.test('HANDOFF version 2: section layout errors are REJECT "bad-frame", as in version 1', async (t) => {
  const badFrame = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', fatal: false }
  const good = bodyWith(rawMeta(), NONE, Buffer.from('xy'))
  t.doesNotThrow(() => decodeHandoff(good, 2))
  for (const [what, bytes] of [
    ['empty body', NONE],
    ['a trailing byte', Buffer.concat([good, Buffer.from([0])])],
    ['cut in the buffered section', good.subarray(0, good.length - 1)],
    ['meta overruns', (() => { const b = Buffer.from(good); b.writeUInt32BE(good.length, 0); return b })()]
  ] as Array<[string, Buffer]>) throwsProtocol(t, () => decodeHandoff(bytes, 2), badFrame, what)
})

t.test('HANDOFF version 2: malformed metadata is REJECT "bad-metadata", not fatal, with the id', async (t) => {
  const badMeta = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-metadata', fatal: false }
  const text = (s: string): Buffer => Buffer.from(s)
  const cases: Array<[string, Buffer, Buffer?]> = [
    ['empty meta', NONE],
    ['35 bytes', rawMeta().subarray(0, 35)],
    ['kind 0', rawMeta({ kind: 0 })],
    ['kind 5', rawMeta({ kind: 5 })],
    ['flag bit 0x40', rawMeta({ flags: 0x40 })],
    ['flag bit 0x80', rawMeta({ flags: 0x80 })],
    ['IPv6 without family', rawMeta({ flags: 0x20 })],
    ['remotePort without its flag', rawMeta({ remotePort: 80 })],
    ['localPort without its flag', rawMeta({ localPort: 80 })],
    ['deadline without its flag', rawMeta({ deadline: 5 })],
    ['deadline -0 without its flag', rawMeta({ deadline: -0 })],
    ['lengths past the section', rawMeta({ strings: [text('a'), NONE, NONE], lengths: { target: 2 } })],
    ['lengths short of the section', rawMeta({ strings: [text('ab'), NONE, NONE], lengths: { target: 1 } })],
    ['a context length alone', rawMeta({ lengths: { context: 0xffffffff } })],
    ['invalid UTF-8 in target', rawMeta({ strings: [Buffer.from([0x61, 0xc3]), NONE, NONE] })],
    ['overlong UTF-8 in remoteAddress', rawMeta({ strings: [NONE, Buffer.from([0xc0, 0xaf]), NONE] })],
    ['a surrogate in UTF-8 in localAddress', rawMeta({ strings: [NONE, NONE, Buffer.from([0xed, 0xa0, 0x80])] })],
    ['target of 256 characters', rawMeta({ strings: [text('t'.repeat(256)), NONE, NONE] })],
    ['remoteAddress of 256 characters', rawMeta({ strings: [NONE, text('é'.repeat(256)), NONE] })],
    ['context not JSON', rawMeta({ context: text('{"a":') })],
    ['context two values', rawMeta({ context: text('1 2') })],
    ['context invalid UTF-8', rawMeta({ context: Buffer.from([0x22, 0xff, 0x22]) })],
    ['extra not JSON', rawMeta({ kind: 4, extra: text('{') })],
    ['extra an array', rawMeta({ kind: 4, extra: text('[{"resume":{}}]') })],
    ['extra null', rawMeta({ kind: 4, extra: text('null') })],
    ['resume on a raw handoff', rawMeta({ kind: 3, extra: text('{"resume":{}}') })],
    ['websocket without resume', rawMeta({ kind: 4 })],
    ['websocket with extra but no resume', rawMeta({ kind: 4, extra: text('{"other":1}') })],
    ['resume not an object', rawMeta({ kind: 4, extra: text('{"resume":[1]}') })],
    ['sentAt NaN', rawMeta({ sentAt: NaN })],
    ['sentAt -1', rawMeta({ sentAt: -1 })],
    ['sentAt Infinity', rawMeta({ sentAt: Infinity })],
    ['deadline -1', rawMeta({ flags: 0x02, deadline: -1 })],
    ['deadline NaN', rawMeta({ flags: 0x02, deadline: NaN })],
    ['upgrade without a head', rawMeta({ kind: 1 }), NONE],
    ['request without a head', rawMeta({ kind: 2 }), NONE]
  ]
  for (const [what, meta, head] of cases) {
    const bytes = bodyWith(meta, head ?? HEAD)
    throwsProtocol(t, () => decodeHandoff(bytes, 2), badMeta, what)
    const err = throwsProtocol(t, () => decodeMessage(rawFrame({ version: 2, type: 2, id: 77, fdCount: 1 }, bytes), { version: 2 }),
      { ...badMeta, id: 77 }, `${what}: decodeMessage`)
    t.match(err.message, /^HANDOFF meta: /, `${what}: says where`)
  }
  t.doesNotThrow(() => decodeHandoff(bodyWith(rawMeta({ kind: 4, extra: Buffer.from('{"resume":{},"later":[1]}') })), 2),
    'members of the extra object a reader does not know are ignored')
  t.doesNotThrow(() => decodeHandoff(bodyWith(rawMeta({ context: Buffer.from(' {"a": 1} ') })), 2), 'context may have whitespace')
})

t.test('encodeHandoff version 2 refuses what version 1 refuses, and other versions', async (t) => {
  const ok: HandoffRequest = { meta: META, head: HEAD, buffered: NONE }
  const invalid: Array<[string, () => unknown]> = [
    ['id 0', () => encodeHandoff(0, ok, undefined, 2)],
    ['head not a Buffer', () => encodeHandoff(1, { ...ok, head: 'GET /' as unknown as Buffer }, undefined, 2)],
    ['unknown kind', () => encodeHandoff(1, { ...ok, meta: { ...META, kind: 'tcp' as 'raw' } }, undefined, 2)],
    ['upgrade without head', () => encodeHandoff(1, { ...ok, head: NONE }, undefined, 2)],
    ['sentAt NaN', () => encodeHandoff(1, { ...ok, meta: { ...META, sentAt: NaN } }, undefined, 2)],
    ['port 70000', () => encodeHandoff(1, { ...ok, meta: { ...META, remotePort: 70000 } }, undefined, 2)],
    ['target of 256', () => encodeHandoff(1, { ...ok, meta: { ...META, target: 'x'.repeat(256) } }, undefined, 2)],
    ['resume on upgrade', () => encodeHandoff(1, { ...ok, meta: { ...META, resume: {} } }, undefined, 2)],
    ['context with a BigInt', () => encodeHandoff(1, { ...ok, meta: { ...META, context: { n: 1n } } }, undefined, 2)],
    ['version 0', () => encodeHandoff(1, ok, undefined, 0)],
    ['version 3', () => encodeHandoff(1, ok, undefined, 3)],
    ['version 1.5', () => encodeHandoff(1, ok, undefined, 1.5)]
  ]
  for (const [what, fn] of invalid) t.ok(caughtInvalid(t, fn, what) instanceof ERR_HANDOFF_INVALID_ARG, what)
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.ok(caughtInvalid(t, () => encodeHandoff(1, { ...ok, meta: { ...META, context: circular } }, undefined, 2)).cause instanceof TypeError,
    'a circular context: the JSON error is the cause')
})

// ---------------------------------------------------------------------------
t.test('the bare body decoders refuse a version this codec does not speak, as the encoders do', async (t) => {
  const handoff = body(v2(META))
  const accept = encodeAccept(1, { live: 1, max: null }, 2).subarray(16)
  for (const version of [0, 3, 1.5, Number.NaN]) {
    t.ok(caughtInvalid(t, () => decodeHandoff(handoff, version), `decodeHandoff, version ${version}`) instanceof ERR_HANDOFF_INVALID_ARG)
    t.ok(caughtInvalid(t, () => decodeAccept(accept, version), `decodeAccept, version ${version}`) instanceof ERR_HANDOFF_INVALID_ARG)
  }
  t.same(decodeAccept(accept, 2), { live: 1, max: null }, 'version 2 still reads')
  t.equal(decodeHandoff(handoff, 2).meta.kind, META.kind)
})

t.test('ACCEPT version 2: 16 bytes, round trips, bad bodies fatal "bad-message"', async (t) => {
  for (const accept of [{ live: 3, max: 100 }, { live: 0, max: null }, { live: 0, max: 0 },
    { live: Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }, { live: 2 ** 32, max: 2 ** 32 + 1 }]) {
    const frame = encodeAccept(7, accept, 2)
    t.same(decodeHeader(frame), { version: 2, type: FrameType.Accept, flags: 0, fdCount: 0, id: 7, bodyLength: ACCEPT_V2_SIZE })
    t.same(decodeAccept(body(frame), 2), accept, JSON.stringify(accept))
    t.same(decodeMessage(frame, { version: 2 }).body, accept)
  }
  t.same([...body(encodeAccept(1, { live: 3, max: 100 }, 2))], [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 100], 'uint64 live, uint64 max')
  t.same([...body(encodeAccept(1, { live: 2 ** 32 + 5, max: null }, 2))], [0, 0, 0, 1, 0, 0, 0, 5, 255, 255, 255, 255, 255, 255, 255, 255],
    'max null: all ones')
  const badMessage = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-message', fatal: true }
  const acceptBody = (hex: string): Buffer => Buffer.from(hex.replace(/ /g, ''), 'hex')
  for (const [what, bytes] of [
    ['15 bytes', Buffer.alloc(15)],
    ['17 bytes', Buffer.alloc(17)],
    ['empty', NONE],
    ['a version 1 JSON body', Buffer.from('{"live":1,"max":null}')],
    ['live 2^53', acceptBody('00200000 00000000 00000000 00000000')],
    ['live all ones', acceptBody('ffffffff ffffffff 00000000 00000000')],
    ['max 2^53', acceptBody('00000000 00000000 00200000 00000000')],
    ['max almost all ones', acceptBody('00000000 00000000 ffffffff fffffffe')]
  ] as Array<[string, Buffer]>) {
    throwsProtocol(t, () => decodeAccept(bytes, 2), badMessage, what)
    throwsProtocol(t, () => decodeMessage(rawFrame({ version: 2, type: 3, id: 9 }, bytes), { version: 2 }), { ...badMessage, id: 9 }, `${what}: decodeMessage`)
  }
  for (const [what, fn] of [
    ['live -1', () => encodeAccept(1, { live: -1, max: null }, 2)],
    ['live 2^53', () => encodeAccept(1, { live: 2 ** 53, max: null }, 2)],
    ['max 1.5', () => encodeAccept(1, { live: 1, max: 1.5 }, 2)],
    ['id 0', () => encodeAccept(0, { live: 1, max: null }, 2)],
    ['id 2^32', () => encodeAccept(2 ** 32, { live: 1, max: null }, 2)],
    ['version 3', () => encodeAccept(1, { live: 1, max: null }, 3)]
  ] as Array<[string, () => unknown]>) t.ok(caughtInvalid(t, fn, what) instanceof ERR_HANDOFF_INVALID_ARG, what)
})

// ---------------------------------------------------------------------------
t.test('header versions (§5): HELLO always 1, every other frame the channel\'s', async (t) => {
  t.equal(PROTOCOL_VERSION, 1)
  t.same([MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION], [1, 2])
  const hello = encodeHello({ role: 'receiver', pid: 1, version: 2, minVersion: 1 })
  t.equal(hello[2], 1, 'a HELLO listing 2 still carries header version 1')
  t.match(decodeHello(body(hello)), { version: 2, minVersion: 1 })
  t.match(decodeHello(body(encodeHello({ role: 'receiver', pid: 1 }))), { version: 1, minVersion: 1 }, 'the default is a version 1 peer')
  for (const [what, fn] of [
    ['a HELLO listing 3', () => encodeHello({ role: 'sender', pid: 1, version: 3 })],
    ['a HELLO with minVersion 0', () => encodeHello({ role: 'sender', pid: 1, version: 2, minVersion: 0 })],
    ['a HELLO with minVersion above version', () => encodeHello({ role: 'sender', pid: 1, version: 1, minVersion: 2 })],
    ['a HELLO frame of version 2', () => encodeFrame(FrameType.Hello, 0, Buffer.from('{}'), 0, 0, undefined, 2)],
    ['a frame of version 3', () => encodeFrame(FrameType.Status, 0, Buffer.from('{}'), 0, 0, undefined, 3)]
  ] as Array<[string, () => unknown]>) t.ok(caughtInvalid(t, fn, what) instanceof ERR_HANDOFF_INVALID_ARG, what)

  const frames: Array<[string, (version: number) => Buffer]> = [
    ['HANDOFF', (v) => encodeHandoff(3, { meta: META, head: HEAD, buffered: NONE }, undefined, v)],
    ['ACCEPT', (v) => encodeAccept(3, { live: 1, max: null }, v)],
    ['REJECT', (v) => encodeReject(3, { reason: 'capacity' }, v)],
    ['STATUS', (v) => encodeStatus({ live: 1, max: 2, draining: false }, v)],
    ['GOODBYE', (v) => encodeGoodbye({ reason: 'draining' }, v)],
    ['ERROR', (v) => encodeError({ reason: 'internal' }, v)]
  ]
  const badVersion = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-version', fatal: true }
  for (const [what, encode] of frames) {
    t.equal(encode(1)[2], 1, `${what}: version 1 by default and on a version 1 channel`)
    t.equal(encode(2)[2], 2, `${what}: version 2 on a version 2 channel`)
    t.equal(decodeMessage(encode(2), { version: 2 }).header.version, 2)
    const err = throwsProtocol(t, () => decodeMessage(encode(2), { version: 1 }), badVersion, `${what}: a version 2 frame on a version 1 channel`)
    t.equal(err.version, 2)
    throwsProtocol(t, () => decodeMessage(encode(2)), badVersion, `${what}: decodeMessage defaults to version 1`)
    throwsProtocol(t, () => decodeMessage(encode(1), { version: 2 }), badVersion, `${what}: a version 1 frame on a version 2 channel`)
  }
  t.equal(caught(t, () => decodeMessage(frames[0][1](2), { version: 1, fds: 0 })).reason, 'bad-version',
    'the version is checked before the descriptors')
  t.equal(caught(t, () => decodeMessage(frames[0][1](2))).id, 3, 'a HANDOFF\'s bad-version names its id')
  throwsProtocol(t, () => decodeMessage(rawFrame({ version: 2, type: 1 }, body(hello)), { version: 2 }), badVersion,
    'a HELLO of header version 2, even on a version 2 channel')
  t.equal(decodeMessage(hello, { version: 2 }).type, FrameType.Hello, 'HELLO is version 1 on any channel')
  const request = encodeStatusRequest({ pid: 1 })
  const report = encodeStatusReport({ live: 0, max: null, draining: false, total: 0, rejected: 0, peers: 0, untrustedPeers: 0, senders: [], pid: 1, startedAt: 0, implementation: 'x' })
  t.equal(request[2], 1)
  t.equal(report[2], 1)
  t.equal(decodeMessage(report, { version: 2 }).type, FrameType.StatusReport, 'an observer\'s frames are version 1 (no negotiation)')
})

t.test('negotiateHello picks 2 between two peers that speak it, 1 with a version 1 peer', async (t) => {
  const ours = { role: 'receiver', version: MAX_PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION } as const
  const peer = (version: number, minVersion: number) => decodeHello(body(encodeHello({ role: 'sender', pid: 1, version, minVersion })))
  t.equal(negotiateHello(ours, peer(1, 1)), 1, 'a version 1 peer')
  t.equal(negotiateHello(ours, peer(2, 1)), 2, 'a peer of 1 to 2')
  t.equal(negotiateHello(ours, peer(2, 2)), 2, 'a peer of 2 only')
  const future = decodeHello(Buffer.from(JSON.stringify({ protocol: 'fastify-handoff', version: 9, minVersion: 3, role: 'sender', pid: 1, maxFrameSize: 1 << 20 })))
  t.equal(caught(t, () => negotiateHello(ours, future)).reason, 'unsupported-version', 'a peer of 3 to 9: nothing in common')
  t.equal(negotiateHello(ours, decodeHello(Buffer.from(JSON.stringify({ ...future, minVersion: 1 })))), 2, 'a peer of 1 to 9: 2')
})
