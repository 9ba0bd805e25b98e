import t from 'tap'
import {
  ERR_HANDOFF_PROTOCOL, ERR_HANDOFF_INVALID_ARG, REJECT_REASONS, ERROR_REASONS, frameTooLarge, isProtocolError,
  isRejectReason, isErrorReason, protocolError, type HandoffProtocolError, type ProtocolReason
} from '../../plugin/protocol/index.js'
import * as errors from '../../plugin/errors.js'

t.test('a protocol violation is one error: ERR_HANDOFF_PROTOCOL, with its reason, fatality and id as data', async (t) => {
  const cause = new Error('underneath')
  const cases: Array<[HandoffProtocolError, boolean, ProtocolReason]> = [
    [protocolError('bad-magic', 'x', { fatal: true }), true, 'bad-magic'],
    [protocolError('bad-version', 'x', { fatal: true, version: 2 }), true, 'bad-version'],
    [protocolError('bad-type', 'x', { fatal: true, frameType: 9 }), true, 'bad-type'],
    [protocolError('bad-frame', 'x', { fatal: true }), true, 'bad-frame'],
    [protocolError('bad-frame', 'x', { fatal: false, id: 3 }), false, 'bad-frame'],
    [frameTooLarge('frame', 10, 5, { fatal: true }), true, 'frame-too-large'],
    [frameTooLarge('head', 10, 5, { fatal: false }), false, 'frame-too-large'],
    [protocolError('bad-message', 'x', { fatal: true }), true, 'bad-message'],
    [protocolError('bad-metadata', 'x', { fatal: false, cause }), false, 'bad-metadata'],
    [protocolError('descriptors-missing', 'x', { fatal: false, id: 4 }), false, 'descriptors-missing'],
    [protocolError('unsupported-version', 'x', { fatal: true }), true, 'unsupported-version'],
    [protocolError('role-mismatch', 'x', { fatal: true }), true, 'role-mismatch'],
    [protocolError('unexpected-frame', 'x', { fatal: true }), true, 'unexpected-frame'],
    [protocolError('duplicate-id', 'x', { fatal: true, id: 5 }), true, 'duplicate-id']
  ]
  for (const [err, fatal, reason] of cases) {
    t.ok(err instanceof Error, `${reason} is an Error`)
    t.ok(err instanceof ERR_HANDOFF_PROTOCOL, `${reason} is an ERR_HANDOFF_PROTOCOL`)
    t.ok(isProtocolError(err))
    t.equal(err.code, 'ERR_HANDOFF_PROTOCOL')
    t.equal(err.fatal, fatal, `${reason}: fatal`)
    t.equal(err.reason, reason, `${reason}: reason`)
    t.equal(err.fatal ? isErrorReason(err.reason) : isRejectReason(err.reason), true,
      `${reason}: a fatal error carries an ERROR reason, a REJECT-able one a REJECT reason`)
    t.ok(typeof err.stack === 'string' && err.stack.includes(err.message), `${reason}: a stack with the message`)
  }
  t.equal(frameTooLarge('HANDOFF head', 10, 5, { fatal: false }).message, 'HANDOFF head of 10 bytes exceeds the limit of 5')
  t.match(frameTooLarge('frame', 10, 5, { fatal: true }), { size: 10, limit: 5 })
  t.equal(protocolError('bad-version', 'x', { fatal: true, version: 2 }).version, 2)
  t.equal(protocolError('bad-type', 'x', { fatal: true, frameType: 9 }).frameType, 9)
  t.equal(protocolError('bad-frame', 'x', { fatal: false, id: 3 }).id, 3)
  t.equal(protocolError('bad-magic', 'x', { fatal: true }).id, undefined)
  t.equal(protocolError('bad-metadata', 'x', { fatal: false, cause }).cause, cause, '{ cause } is passed through')
  t.notOk('cause' in protocolError('bad-magic', 'x', { fatal: true }), 'no cause unless given')
  t.equal(isProtocolError(new Error('plain')), false)
  t.equal(isProtocolError(Object.assign(new Error('look-alike'), { code: 'ERR_HANDOFF_PROTOCOL', fatal: true })), false,
    'a look-alike with the code string is not one: callers branch on the type, not the string')
})

t.test('an encoder refuses a bad argument with ERR_HANDOFF_INVALID_ARG, not a protocol violation', async (t) => {
  const cause = new Error('underneath')
  const err = new ERR_HANDOFF_INVALID_ARG('x', { cause })
  t.ok(err instanceof TypeError)
  t.equal(err.code, 'ERR_HANDOFF_INVALID_ARG')
  t.equal(err.cause, cause)
  t.equal(isProtocolError(err), false)
})

t.test('every export of plugin/errors.ts is an @fastify/error constructor with an ERR_HANDOFF_ code', async (t) => {
  const seen = new Set<string>()
  for (const [name, value] of Object.entries(errors)) {
    if (!name.startsWith('ERR_')) continue
    t.equal(typeof value, 'function', name)
    const Ctor = value as unknown as new () => Error & { code: string }
    const err = new Ctor()
    t.equal(err.code, name, `${name}: its code is its name`)
    t.ok(err instanceof Ctor, `${name}: instanceof works`)
    t.notOk(seen.has(err.code), `${name}: one code, one constructor`)
    seen.add(err.code)
  }
  t.ok(seen.size >= 30, `${seen.size} codes`)
})

t.test('reason lists', async (t) => {
  t.same([...REJECT_REASONS], ['capacity', 'draining', 'unknown-target', 'bad-descriptor', 'descriptors-missing',
    'descriptors-truncated', 'too-many-descriptors', 'bad-frame', 'bad-metadata', 'frame-too-large', 'unauthorized',
    'internal', 'closed-client', 'expired'])
  t.same([...ERROR_REASONS], ['bad-magic', 'bad-version', 'bad-type', 'bad-frame', 'bad-message', 'frame-too-large',
    'unsupported-version', 'role-mismatch', 'unexpected-frame', 'duplicate-id', 'unauthorized', 'timeout', 'internal'])
  for (const reason of [...REJECT_REASONS, ...ERROR_REASONS]) {
    t.match(reason, /^[a-z][a-z0-9-]{0,63}$/, `${reason} is a valid reason string`)
  }
  t.equal(isRejectReason('capacity'), true)
  t.equal(isRejectReason('bad-magic'), false)
  t.equal(isRejectReason(7), false)
  t.equal(isErrorReason('bad-magic'), true)
  t.equal(isErrorReason('capacity'), false)
  t.equal(isErrorReason(null), false)
})
