import t from 'tap'
import {
  HandoffProtocolError, BadMagicError, BadVersionError, BadTypeError, BadFrameError, FrameTooLargeError, BadMessageError,
  DescriptorError, UnsupportedVersionError, RoleMismatchError, UnexpectedFrameError, InvalidArgumentError,
  REJECT_REASONS, ERROR_REASONS, isProtocolError, isRejectReason, isErrorReason
} from '../../plugin/protocol/index.js'

t.test('every error class: Error, code, fatal, reason, name', async (t) => {
  const cause = new Error('underneath')
  const cases: Array<[HandoffProtocolError, string, string, boolean, string]> = [
    [new BadMagicError(0x1234), 'BadMagicError', 'ERR_HANDOFF_BAD_MAGIC', true, 'bad-magic'],
    [new BadVersionError(2), 'BadVersionError', 'ERR_HANDOFF_BAD_VERSION', true, 'bad-version'],
    [new BadTypeError(9), 'BadTypeError', 'ERR_HANDOFF_BAD_TYPE', true, 'bad-type'],
    [new BadFrameError('x', { fatal: true }), 'BadFrameError', 'ERR_HANDOFF_BAD_FRAME', true, 'bad-frame'],
    [new BadFrameError('x', { fatal: false, id: 3 }), 'BadFrameError', 'ERR_HANDOFF_BAD_FRAME', false, 'bad-frame'],
    [new FrameTooLargeError('frame', 10, 5, { fatal: true }), 'FrameTooLargeError', 'ERR_HANDOFF_FRAME_TOO_LARGE', true, 'frame-too-large'],
    [new FrameTooLargeError('head', 10, 5, { fatal: false }), 'FrameTooLargeError', 'ERR_HANDOFF_FRAME_TOO_LARGE', false, 'frame-too-large'],
    [new BadMessageError('x', { fatal: true }), 'BadMessageError', 'ERR_HANDOFF_BAD_MESSAGE', true, 'bad-message'],
    [new BadMessageError('x', { fatal: false, cause }), 'BadMessageError', 'ERR_HANDOFF_BAD_MESSAGE', false, 'bad-metadata'],
    [new DescriptorError('descriptors-missing', 'x', 4), 'DescriptorError', 'ERR_HANDOFF_BAD_DESCRIPTORS', false, 'descriptors-missing'],
    [new UnsupportedVersionError('x'), 'UnsupportedVersionError', 'ERR_HANDOFF_UNSUPPORTED_VERSION', true, 'unsupported-version'],
    [new RoleMismatchError('sender'), 'RoleMismatchError', 'ERR_HANDOFF_ROLE_MISMATCH', true, 'role-mismatch'],
    [new UnexpectedFrameError('x'), 'UnexpectedFrameError', 'ERR_HANDOFF_UNEXPECTED_FRAME', true, 'unexpected-frame'],
    [new InvalidArgumentError('x', cause), 'InvalidArgumentError', 'ERR_HANDOFF_INVALID_ARG', false, 'internal']
  ]
  for (const [err, name, code, fatal, reason] of cases) {
    t.ok(err instanceof Error, `${name} is an Error`)
    t.ok(err instanceof HandoffProtocolError, `${name} is a HandoffProtocolError`)
    t.ok(isProtocolError(err))
    t.equal(err.name, name)
    t.equal(err.code, code)
    t.equal(err.fatal, fatal, `${name}: fatal`)
    t.equal(err.reason, reason, `${name}: reason`)
    t.ok(isRejectReason(err.reason) || isErrorReason(err.reason), `${name}: its reason is a v1 reason`)
    t.equal(err.fatal ? isErrorReason(err.reason) : err.code === 'ERR_HANDOFF_INVALID_ARG' || isRejectReason(err.reason), true,
      `${name}: a fatal error carries an ERROR reason, a REJECT-able one a REJECT reason`)
    t.ok(typeof err.stack === 'string' && err.stack.includes(name))
  }
  t.match(new BadMagicError(0x1234).message, /0x1234/)
  t.match(new FrameTooLargeError('HANDOFF head', 10, 5, { fatal: false }).message, 'HANDOFF head of 10 bytes exceeds the limit of 5')
  t.equal(new BadFrameError('x', { fatal: false, id: 3 }).id, 3)
  t.equal(new BadMagicError(0).id, undefined)
  t.equal(new DescriptorError('too-many-descriptors', 'x', 4).id, 4)
  t.equal(new BadMessageError('x', { fatal: false, cause }).cause, cause)
  t.equal(new InvalidArgumentError('x', cause).cause, cause)
  t.notOk('cause' in new BadMagicError(0), 'no cause unless given')
  t.equal(isProtocolError(new Error('plain')), false)
  t.equal(isProtocolError(Object.assign(new Error('look-alike'), { code: 'ERR_HANDOFF_BAD_MAGIC', fatal: true })), false)
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
