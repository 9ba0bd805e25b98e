// The codec of PROTOCOL.md §13: STATUS_REQUEST and STATUS_REPORT round-trip,
// bad bodies are fatal (bad-message), a report too big for one control body
// sheds senders from the end and still fits, and where each frame may appear.
import t from 'tap'
import {
  FrameType, MAX_CONTROL_BODY_SIZE, HEADER_SIZE, decodeHeader, decodeMessage, encodeFrame, encodeStatusReport, encodeStatusRequest,
  isFrameType, outOfPlace, type StatusReport
} from '../../plugin/protocol/index.js'

const REPORT: StatusReport = {
  live: 2,
  max: null,
  draining: false,
  total: 7,
  rejected: 1,
  peers: 2,
  untrustedPeers: 0,
  senders: [{ pid: 10, uid: 1000, gid: 1000, name: 'web-1' }, { pid: 11, uid: 1000, gid: 1000 }],
  pid: 42,
  startedAt: 1700000000000,
  implementation: 'fastify-handoff 0.1.0 (node v20.0.0)',
  name: 'chat'
}

t.test('types 32 and 33 are frame types; 31 and 34 are not', async (t) => {
  t.same([31, 32, 33, 34].map(isFrameType), [false, true, true, false])
  const request = encodeStatusRequest({ pid: 7 })
  t.match(decodeHeader(request), { version: 1, type: 32, flags: 0, fdCount: 0, id: 0 })
  t.equal(request.subarray(HEADER_SIZE).toString(), '{"pid":7}')
})

t.test('round trips', async (t) => {
  t.same(decodeMessage(encodeStatusRequest({ pid: 7, name: 'ops' })).body, { pid: 7, name: 'ops' })
  const decoded = decodeMessage(encodeStatusReport(REPORT))
  t.equal(decoded.type, FrameType.StatusReport)
  t.same(decoded.body, REPORT)
  const withUnknown = encodeFrame(FrameType.StatusReport, 0, Buffer.from(JSON.stringify({ ...REPORT, future: [1, 2] })))
  t.same(decodeMessage(withUnknown).body, REPORT, 'unknown members are ignored')
})

t.test('bad bodies are fatal bad-message errors', async (t) => {
  const bad = (body: object): Buffer => encodeFrame(FrameType.StatusReport, 0, Buffer.from(JSON.stringify(body)))
  for (const [what, body] of [
    ['live missing', { ...REPORT, live: undefined }],
    ['senders not an array', { ...REPORT, senders: {} }],
    ['a sender without uid', { ...REPORT, senders: [{ pid: 1, gid: 1 }] }],
    ['empty implementation', { ...REPORT, implementation: '' }],
    ['negative startedAt', { ...REPORT, startedAt: -1 }]
  ] as const) {
    t.throws(() => decodeMessage(bad(body)), { reason: 'bad-message', fatal: true }, what)
  }
  t.throws(() => decodeMessage(encodeFrame(FrameType.StatusRequest, 0, Buffer.from('{"pid":-1}'))), { reason: 'bad-message', fatal: true })
  t.throws(() => encodeStatusRequest({ pid: 1.5 }), { code: 'ERR_HANDOFF_INVALID_ARG' })
})

t.test('a report with more senders than 16 KiB holds keeps the first ones and still fits', async (t) => {
  const name = 'x'.repeat(255)
  const senders = Array.from({ length: 200 }, (_, i) => ({ pid: 1000 + i, uid: 1000, gid: 1000, name }))
  const frame = encodeStatusReport({ ...REPORT, peers: 200, senders })
  t.ok(frame.length - HEADER_SIZE <= MAX_CONTROL_BODY_SIZE, `body of ${frame.length - HEADER_SIZE} bytes`)
  const body = decodeMessage(frame).body as StatusReport
  t.equal(body.peers, 200, 'peers still counts them all')
  t.ok(body.senders.length > 30 && body.senders.length < 200, `${body.senders.length} listed`)
  t.same(body.senders, senders.slice(0, body.senders.length), 'the first ones, in order')
})

t.test('where the frames may appear (§13 rules 3 and 4)', async (t) => {
  t.equal(outOfPlace(FrameType.StatusRequest, 'receiver', false), null, 'a receiver takes it in place of a HELLO')
  t.match(outOfPlace(FrameType.StatusRequest, 'receiver', true), /unexpected STATUS_REQUEST/, 'not after a HELLO')
  t.match(outOfPlace(FrameType.StatusRequest, 'sender', false), /first frame must be HELLO/)
  t.match(outOfPlace(FrameType.StatusRequest, 'sender', true), /unexpected/)
  t.match(outOfPlace(FrameType.StatusReport, 'sender', true), /unexpected STATUS_REPORT/)
  t.match(outOfPlace(FrameType.StatusReport, 'receiver', true), /unexpected STATUS_REPORT/)
  t.match(outOfPlace(FrameType.StatusReport, 'receiver', false), /first frame must be HELLO/)
})
