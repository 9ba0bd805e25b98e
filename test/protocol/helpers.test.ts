// The protocol tests' helpers (helpers.ts) check themselves: a raw frame that
// is not what it claims would make the tests built on it prove nothing.
import t from 'tap'
import { decodeHeader, encodeFrame, FrameType } from '../../plugin/protocol/index.js'
import { caught, caughtInvalid, rawFrame, rawHeader, throwsProtocol } from './helpers.js'

t.test('rawHeader, rawFrame, caught and throwsProtocol do what the tests rely on', async (t) => {
  t.same(decodeHeader(rawHeader()), { version: 1, type: FrameType.Hello, flags: 0, fdCount: 0, id: 0, bodyLength: 0 },
    'the default raw header is a valid HELLO header')
  t.equal(rawFrame({ type: 3, id: 9 }, '{}').readUInt32BE(12), 2, 'rawFrame sets bodyLength')
  t.equal(caught(t, () => decodeHeader(rawHeader({ magic: 0 }))).reason, 'bad-magic',
    'caught returns the protocol error')
  t.equal(caughtInvalid(t, () => encodeFrame(0 as FrameType, 0, Buffer.alloc(0))).code, 'ERR_HANDOFF_INVALID_ARG',
    'caughtInvalid returns the encoder\'s error')
  throwsProtocol(t, () => decodeHeader(rawHeader({ magic: 0 })),
    { code: 'ERR_HANDOFF_PROTOCOL', fatal: true, reason: 'bad-magic' }, 'throwsProtocol')
})
