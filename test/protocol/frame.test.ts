import t from 'tap'
import {
  HEADER_SIZE, MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_FDS_PER_FRAME, MAGIC, PROTOCOL_VERSION,
  FrameType, FRAME_TYPE_NAMES, SENT_BY, ALLOWED_FLAGS, encodeFrame, decodeHeader, decodeFrame, createFramer,
  protocolFramer, checkDescriptors, isFrameType, isHandoffLevel, isProtocolError,
  ERR_HANDOFF_INVALID_ARG, type FrameHeader, type Framer
} from '../../plugin/protocol/index.js'
import { rawHeader, rawFrame, caught, caughtInvalid, throwsProtocol } from './helpers.js'

const ALL_TYPES = [FrameType.Hello, FrameType.Handoff, FrameType.Accept, FrameType.Reject, FrameType.Status,
  FrameType.Goodbye, FrameType.Error]
const idFor = (type: FrameType): number => isHandoffLevel(type) ? 0xdeadbeef : 0
const fdsFor = (type: FrameType): number => type === FrameType.Handoff ? 1 : 0

t.test('type numbers are the ones PROTOCOL.md gives', async (t) => {
  t.same(ALL_TYPES, [1, 2, 3, 4, 5, 6, 7])
  t.same(ALL_TYPES.map((type) => FRAME_TYPE_NAMES[type]), ['HELLO', 'HANDOFF', 'ACCEPT', 'REJECT', 'STATUS', 'GOODBYE', 'ERROR'])
  t.same(ALL_TYPES.map((type) => SENT_BY[type]), ['both', 'sender', 'receiver', 'receiver', 'receiver', 'both', 'both'])
  t.same(ALL_TYPES.map((type) => ALLOWED_FLAGS[type]), [0, 0, 0, 0, 0, 0, 0], 'v1 defines no flags')
  t.same(ALL_TYPES.map(isHandoffLevel), [false, true, true, true, false, false, false])
  t.equal(isFrameType(0), false)
  t.equal(isFrameType(8), false)
  t.equal(isFrameType(1.5), false)
  t.equal(MAGIC, 0x484f)
  t.equal(Buffer.from('HO').readUInt16BE(0), MAGIC, 'magic is ASCII "HO"')
  t.equal(PROTOCOL_VERSION, 1)
})

t.test('encodeFrame lays out the header big-endian', async (t) => {
  const body = Buffer.from('hello body')
  const frame = encodeFrame(FrameType.Handoff, 0x01020304, body, 1)
  t.equal(frame.length, HEADER_SIZE + body.length)
  t.same([...frame.subarray(0, HEADER_SIZE)],
    [0x48, 0x4f, 0x01, 0x02, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x0a])
  t.same(frame.subarray(HEADER_SIZE), body)
  t.same(encodeFrame(FrameType.Status, 0, Buffer.alloc(0)), rawHeader({ type: 5 }), 'empty body')
})

t.test('decodeHeader and decodeFrame round-trip every type', async (t) => {
  for (const type of ALL_TYPES) {
    const body = Buffer.from(`body of ${FRAME_TYPE_NAMES[type]}`)
    const frame = encodeFrame(type, idFor(type), body, fdsFor(type))
    const expected: FrameHeader = { version: 1, type, flags: 0, fdCount: fdsFor(type), id: idFor(type), bodyLength: body.length }
    t.same(decodeHeader(frame), expected, FRAME_TYPE_NAMES[type])
    t.same(decodeHeader(frame.subarray(0, HEADER_SIZE)), expected, 'the header alone is enough')
    const decoded = decodeFrame(frame)
    t.same(decoded.header, expected)
    t.same(decoded.body, body)
  }
  t.same(decodeHeader(encodeFrame(FrameType.Accept, 0xFFFFFFFF, Buffer.alloc(0))).id, 0xFFFFFFFF, 'largest id')
})

t.test('decodeHeader: every malformed header is fatal', async (t) => {
  const fatal = { fatal: true } as const
  throwsProtocol(t, () => decodeHeader(Buffer.alloc(15)),
    { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', ...fatal }, 'short header')
  for (const magic of [0, 0x4f48, 0x4800, 0x004f, 0xffff]) {
    throwsProtocol(t, () => decodeHeader(rawHeader({ magic })),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-magic', ...fatal }, `magic 0x${magic.toString(16)}`)
  }
  for (const version of [0, 3, 255]) {
    const err = throwsProtocol(t, () => decodeHeader(rawHeader({ version })),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-version', ...fatal }, `version ${version}`)
    t.equal(err.version, version)
  }
  for (const type of [0, 8, 9, 127, 255]) {
    const err = throwsProtocol(t, () => decodeHeader(rawHeader({ type })),
      { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-type', ...fatal }, `type ${type}`)
    t.equal(err.frameType, type)
  }
  const badFrame = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', ...fatal }
  for (const type of ALL_TYPES) {
    for (let bit = 0; bit < 8; bit++) {
      throwsProtocol(t, () => decodeHeader(rawHeader({ type, flags: 1 << bit, id: idFor(type), fdCount: fdsFor(type) })),
        badFrame, `${FRAME_TYPE_NAMES[type]} flag bit ${bit}`)
    }
  }
  for (const fdCount of [254, 255]) {
    throwsProtocol(t, () => decodeHeader(rawHeader({ type: 2, id: 1, fdCount })), badFrame, `fdCount ${fdCount}`)
  }
  for (const type of ALL_TYPES.filter((type) => type !== FrameType.Handoff)) {
    for (const fdCount of [1, 2, 253]) {
      throwsProtocol(t, () => decodeHeader(rawHeader({ type, fdCount, id: idFor(type) })), badFrame,
        `${FRAME_TYPE_NAMES[type]} declaring ${fdCount} descriptor(s)`)
    }
  }
  for (const reserved of [1, 0x0100, 0xffff]) {
    throwsProtocol(t, () => decodeHeader(rawHeader({ reserved })), badFrame, `reserved 0x${reserved.toString(16)}`)
  }
  for (const type of ALL_TYPES) {
    const id = isHandoffLevel(type) ? 0 : 1
    throwsProtocol(t, () => decodeHeader(rawHeader({ type, id, fdCount: fdsFor(type) })), badFrame,
      `${FRAME_TYPE_NAMES[type]} with id ${id}`)
  }
})

t.test('decodeHeader: checks run in field order', async (t) => {
  // Everything wrong at once: the first field decides.
  const all = { magic: 0, version: 9, type: 99, flags: 0xff, fdCount: 255, reserved: 1, id: 0, bodyLength: 0xffffffff }
  t.equal(caught(t, () => decodeHeader(rawHeader(all))).reason, 'bad-magic')
  t.equal(caught(t, () => decodeHeader(rawHeader({ ...all, magic: MAGIC }))).reason, 'bad-version')
  t.equal(caught(t, () => decodeHeader(rawHeader({ ...all, magic: MAGIC, version: 1 }))).reason, 'bad-type')
  const typed = { ...all, magic: MAGIC, version: 1, type: 2 }
  t.match(caught(t, () => decodeHeader(rawHeader(typed))).message, /flag/)
  t.match(caught(t, () => decodeHeader(rawHeader({ ...typed, flags: 0 }))).message, /fdCount/)
  t.match(caught(t, () => decodeHeader(rawHeader({ ...typed, flags: 0, fdCount: 1 }))).message, /reserved/)
  t.match(caught(t, () => decodeHeader(rawHeader({ ...typed, flags: 0, fdCount: 1, reserved: 0 }))).message, /id/)
  t.equal(caught(t, () => decodeHeader(rawHeader({ ...typed, flags: 0, fdCount: 1, reserved: 0, id: 1 }))).reason,
    'frame-too-large')
})

t.test('decodeHeader: a HANDOFF may declare any count up to 253 (answered with REJECT, not here)', async (t) => {
  for (const fdCount of [0, 1, 2, MAX_FDS_PER_FRAME]) {
    t.equal(decodeHeader(rawHeader({ type: 2, id: 5, fdCount })).fdCount, fdCount)
  }
})

t.test('decodeHeader: frame size limit', async (t) => {
  const max = MAX_FRAME_SIZE - HEADER_SIZE
  t.equal(decodeHeader(rawHeader({ bodyLength: max })).bodyLength, max, 'exactly 1 MiB with the header is fine')
  const err = throwsProtocol(t, () => decodeHeader(rawHeader({ bodyLength: max + 1 })),
    { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: true }, 'one byte more')
  t.equal(err.size, MAX_FRAME_SIZE + 1)
  t.equal(err.limit, MAX_FRAME_SIZE)
  t.equal(err.id, undefined, 'no id for a connection-level frame')
  t.equal(caught(t, () => decodeHeader(rawHeader({ type: 2, id: 77, fdCount: 1, bodyLength: 0xffffffff }))).id, 77,
    'the id of an oversized HANDOFF is reported')
  t.equal(decodeHeader(rawHeader({ bodyLength: 0xffffffff }), MAX_MAX_FRAME_SIZE + HEADER_SIZE).bodyLength, 0xffffffff,
    'a larger limit admits a larger frame')
  t.equal(caught(t, () => decodeHeader(rawHeader({ bodyLength: 100 }), 100)).reason, 'frame-too-large',
    'a smaller limit')
})

t.test('decodeFrame: the frame must be exactly header + body', async (t) => {
  const frame = rawFrame({ type: 5 }, '{}')
  const badFrame = { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', fatal: true }
  throwsProtocol(t, () => decodeFrame(frame.subarray(0, frame.length - 1)), badFrame, 'one byte short')
  throwsProtocol(t, () => decodeFrame(Buffer.concat([frame, Buffer.from('x')])), badFrame, 'one byte long')
  throwsProtocol(t, () => decodeFrame(rawHeader({ magic: 1 })), { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-magic', fatal: true }, 'header first')
  t.equal(decodeFrame(frame).body.toString(), '{}')
})

t.test('protocolFramer matches the Framer interface of ARCHITECTURE.md', async (t) => {
  const framer: Framer = protocolFramer
  t.equal(framer.headerSize, 16)
  t.equal(framer.maxFrameSize, MAX_FRAME_SIZE)
  t.same(framer.parse(encodeFrame(FrameType.Handoff, 3, Buffer.alloc(100), 1).subarray(0, 16)), { frameSize: 116, fdCount: 1 })
  t.same(framer.parse(rawHeader({ type: 2, id: 3, fdCount: 2, bodyLength: 10 })), { frameSize: 26, fdCount: 2 },
    'the declared count is what the channel matches descriptors against')
  t.same(framer.parse(rawHeader({ bodyLength: MAX_FRAME_SIZE - 16 })), { frameSize: MAX_FRAME_SIZE, fdCount: 0 })
  for (const [header, reason] of [
    [rawHeader({ magic: 0x4854 }), 'bad-magic'],
    [rawHeader({ version: 3 }), 'bad-version'],
    [rawHeader({ type: 0 }), 'bad-type'],
    [rawHeader({ reserved: 1 }), 'bad-frame'],
    [rawHeader({ flags: 0x80 }), 'bad-frame'],
    [rawHeader({ bodyLength: MAX_FRAME_SIZE - 15 }), 'frame-too-large']
  ] as const) {
    const err = caught(t, () => framer.parse(header))
    t.equal(err.code, 'ERR_HANDOFF_PROTOCOL')
    t.equal(err.reason, reason)
    t.equal(err.fatal, true, `${reason} is fatal`)
  }
  t.ok(Object.isFrozen(protocolFramer))
})

t.test('createFramer', async (t) => {
  const small = createFramer(MIN_MAX_FRAME_SIZE)
  t.equal(small.maxFrameSize, MIN_MAX_FRAME_SIZE)
  t.same(small.parse(rawHeader({ bodyLength: MIN_MAX_FRAME_SIZE - 16 })), { frameSize: MIN_MAX_FRAME_SIZE, fdCount: 0 })
  t.equal(caught(t, () => small.parse(rawHeader({ bodyLength: MIN_MAX_FRAME_SIZE - 15 }))).reason, 'frame-too-large')
  const big = createFramer(MAX_MAX_FRAME_SIZE)
  t.same(big.parse(rawHeader({ bodyLength: MAX_MAX_FRAME_SIZE - 16 })), { frameSize: MAX_MAX_FRAME_SIZE, fdCount: 0 })
  for (const bad of [MIN_MAX_FRAME_SIZE - 1, MAX_MAX_FRAME_SIZE + 1, 1.5 * MIN_MAX_FRAME_SIZE + 0.5, NaN, -1]) {
    const err = caughtInvalid(t, () => createFramer(bad))
    t.ok(err instanceof ERR_HANDOFF_INVALID_ARG, `maxFrameSize ${bad}`)
    t.equal(err.code, 'ERR_HANDOFF_INVALID_ARG')
  }
})

t.test('encodeFrame refuses what a peer would find fatal', async (t) => {
  const invalid = (fn: () => unknown, message: string): void => {
    const err = caughtInvalid(t, fn, message)
    t.ok(err instanceof ERR_HANDOFF_INVALID_ARG, message)
    t.equal(err.code, 'ERR_HANDOFF_INVALID_ARG', message)
    t.equal(isProtocolError(err), false, `${message}: a caller's bug, not a peer's violation`)
  }
  const body = Buffer.alloc(0)
  invalid(() => encodeFrame(0 as FrameType, 0, body), 'type 0')
  invalid(() => encodeFrame(8 as FrameType, 0, body), 'type 8')
  for (const id of [-1, 1.5, 0x100000000, NaN]) invalid(() => encodeFrame(FrameType.Accept, id, body), `id ${id}`)
  invalid(() => encodeFrame(FrameType.Accept, 0, body), 'ACCEPT with id 0')
  invalid(() => encodeFrame(FrameType.Reject, 0, body), 'REJECT with id 0')
  invalid(() => encodeFrame(FrameType.Handoff, 0, body, 1), 'HANDOFF with id 0')
  invalid(() => encodeFrame(FrameType.Hello, 1, body), 'HELLO with an id')
  invalid(() => encodeFrame(FrameType.Handoff, 1, body, 0), 'HANDOFF without its descriptor')
  invalid(() => encodeFrame(FrameType.Handoff, 1, body, 2), 'HANDOFF with two descriptors')
  invalid(() => encodeFrame(FrameType.Status, 0, body, 1), 'STATUS with a descriptor')
  invalid(() => encodeFrame(FrameType.Status, 0, body, 0, 1), 'a flag')
  invalid(() => encodeFrame(FrameType.Status, 0, body, 0, -1), 'negative flags')
  invalid(() => encodeFrame(FrameType.Status, 0, 'text' as unknown as Buffer), 'a string body')
  invalid(() => encodeFrame(FrameType.Status, 0, body, 0, 0, 1000), 'a maxFrameSize below the minimum')
  t.equal(encodeFrame(FrameType.Status, 0, Buffer.alloc(MAX_FRAME_SIZE - 16)).length, MAX_FRAME_SIZE, 'exactly the limit')
  const err = throwsProtocol(t, () => encodeFrame(FrameType.Accept, 12, Buffer.alloc(MAX_FRAME_SIZE - 15)),
    { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: false, id: 12 },
    'over the limit: not fatal, nothing was sent')
  t.equal(err.size, MAX_FRAME_SIZE + 1)
  t.equal(caught(t, () => encodeFrame(FrameType.Status, 0, Buffer.alloc(MIN_MAX_FRAME_SIZE), 0, 0, MIN_MAX_FRAME_SIZE)).reason,
    'frame-too-large', 'a peer advertising a smaller limit')
})

t.test('checkDescriptors (PROTOCOL.md §9)', async (t) => {
  const handoff = (fdCount: number): FrameHeader => ({ version: 1, type: FrameType.Handoff, flags: 0, fdCount, id: 42, bodyLength: 0 })
  const expectReason = (fn: () => void, reason: string, message: string): void => {
    throwsProtocol(t, fn, { code: 'ERR_HANDOFF_PROTOCOL', reason, fatal: false, id: 42 }, message)
  }
  t.doesNotThrow(() => checkDescriptors(handoff(1), 1), 'one declared, one received')
  expectReason(() => checkDescriptors(handoff(1), 0), 'descriptors-missing', 'declared one, none came')
  expectReason(() => checkDescriptors(handoff(0), 0), 'descriptors-missing', 'declared none')
  expectReason(() => checkDescriptors(handoff(1), 2), 'too-many-descriptors', 'two came')
  expectReason(() => checkDescriptors(handoff(2), 2), 'too-many-descriptors', 'declared two')
  expectReason(() => checkDescriptors(handoff(2), 1), 'too-many-descriptors', 'declared two, one came')
  expectReason(() => checkDescriptors(handoff(253), 253), 'too-many-descriptors', 'declared the most')
  expectReason(() => checkDescriptors(handoff(1), 1, true), 'descriptors-truncated', 'MSG_CTRUNC')
  expectReason(() => checkDescriptors(handoff(1), 0, true), 'descriptors-truncated', 'MSG_CTRUNC, nothing came')
  for (const type of ALL_TYPES.filter((type) => type !== FrameType.Handoff)) {
    const header: FrameHeader = { version: 1, type, flags: 0, fdCount: 0, id: idFor(type), bodyLength: 0 }
    t.doesNotThrow(() => checkDescriptors(header, 0), `${FRAME_TYPE_NAMES[type]} without descriptors`)
    t.doesNotThrow(() => checkDescriptors(header, 3, true),
      `${FRAME_TYPE_NAMES[type]} with stray descriptors: closed and ignored by the caller`)
  }
})
