// The protocol tests' helpers (helpers.ts) check themselves: a raw frame that
// is not what it claims would make the tests built on it prove nothing.
import t from 'tap'
import { decodeHeader, FrameType, BadMagicError } from '../../plugin/protocol/index.js'
import { caught, rawFrame, rawHeader, throwsProtocol } from './helpers.js'

t.test('rawHeader, rawFrame, caught and throwsProtocol do what the tests rely on', async (t) => {
  t.same(decodeHeader(rawHeader()), { version: 1, type: FrameType.Hello, flags: 0, fdCount: 0, id: 0, bodyLength: 0 },
    'the default raw header is a valid HELLO header')
  t.equal(rawFrame({ type: 3, id: 9 }, '{}').readUInt32BE(12), 2, 'rawFrame sets bodyLength')
  t.equal(caught(t, () => decodeHeader(rawHeader({ magic: 0 }))).code, 'ERR_HANDOFF_BAD_MAGIC',
    'caught returns the protocol error')
  throwsProtocol(t, () => decodeHeader(rawHeader({ magic: 0 })),
    { cls: BadMagicError, code: 'ERR_HANDOFF_BAD_MAGIC', fatal: true, reason: 'bad-magic' }, 'throwsProtocol')
})
