// The protocol's own typed errors. The codec stays self-contained: nothing
// here depends on the rest of the plugin.
//
// Every error has a stable `code`, a `reason` (the machine-readable string to
// put in the REJECT or ERROR frame that answers it) and `fatal`:
//  - fatal: true  → framing cannot go on. Send ERROR { reason } and drop the peer.
//  - fatal: false → only this frame is bad. For a HANDOFF: close its
//    descriptors, send REJECT { reason } with `id`, keep serving.

/** REJECT reasons defined by protocol version 1 (PROTOCOL.md, "REJECT"). */
export const REJECT_REASONS = [
  'capacity',
  'draining',
  'unknown-target',
  'bad-descriptor',
  'descriptors-missing',
  'descriptors-truncated',
  'too-many-descriptors',
  'bad-frame',
  'bad-metadata',
  'frame-too-large',
  'unauthorized',
  'internal',
  'closed-client',
  'expired'
] as const
export type RejectReason = typeof REJECT_REASONS[number]

/** ERROR reasons defined by protocol version 1 (PROTOCOL.md, "ERROR"). */
export const ERROR_REASONS = [
  'bad-magic',
  'bad-version',
  'bad-type',
  'bad-frame',
  'bad-message',
  'frame-too-large',
  'unsupported-version',
  'role-mismatch',
  'unexpected-frame',
  'duplicate-id',
  'unauthorized',
  'timeout',
  'internal'
] as const
export type ErrorReason = typeof ERROR_REASONS[number]

export type ProtocolReason = RejectReason | ErrorReason

export type ProtocolErrorCode =
  | 'ERR_HANDOFF_BAD_MAGIC'
  | 'ERR_HANDOFF_BAD_VERSION'
  | 'ERR_HANDOFF_BAD_TYPE'
  | 'ERR_HANDOFF_BAD_FRAME'
  | 'ERR_HANDOFF_FRAME_TOO_LARGE'
  | 'ERR_HANDOFF_BAD_MESSAGE'
  | 'ERR_HANDOFF_BAD_DESCRIPTORS'
  | 'ERR_HANDOFF_UNSUPPORTED_VERSION'
  | 'ERR_HANDOFF_ROLE_MISMATCH'
  | 'ERR_HANDOFF_UNEXPECTED_FRAME'
  | 'ERR_HANDOFF_INVALID_ARG'

export interface ProtocolErrorOptions {
  fatal: boolean
  reason: ProtocolReason
  /** The frame's id, when the header was readable (what a REJECT must echo). */
  id?: number
  cause?: unknown
}

export class HandoffProtocolError extends Error {
  readonly code: ProtocolErrorCode
  /** Framing cannot continue: send ERROR and drop the peer. */
  readonly fatal: boolean
  /** What to put in the REJECT (not fatal) or ERROR (fatal) frame. */
  readonly reason: ProtocolReason
  /** Id of the offending frame, when known. */
  id: number | undefined

  constructor (code: ProtocolErrorCode, message: string, options: ProtocolErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.fatal = options.fatal
    this.reason = options.reason
    this.id = options.id
  }
}

/** The first two bytes are not "HO". Fatal. */
export class BadMagicError extends HandoffProtocolError {
  constructor (got: number) {
    super('ERR_HANDOFF_BAD_MAGIC',
      `bad frame magic 0x${got.toString(16).padStart(4, '0')} (expected 0x484f, "HO")`,
      { fatal: true, reason: 'bad-magic' })
  }
}

/** A header version this implementation does not speak. Fatal. */
export class BadVersionError extends HandoffProtocolError {
  readonly version: number
  constructor (version: number) {
    super('ERR_HANDOFF_BAD_VERSION', `unsupported frame version ${version} (this peer speaks 1)`,
      { fatal: true, reason: 'bad-version' })
    this.version = version
  }
}

/** A frame type that version 1 does not define. Fatal. */
export class BadTypeError extends HandoffProtocolError {
  readonly type: number
  constructor (type: number) {
    super('ERR_HANDOFF_BAD_TYPE', `unknown frame type ${type}`, { fatal: true, reason: 'bad-type' })
    this.type = type
  }
}

/**
 * A frame that breaks a structural rule: a header field (fatal), or the
 * section layout of a HANDOFF body (not fatal, REJECT "bad-frame").
 */
export class BadFrameError extends HandoffProtocolError {
  constructor (message: string, options: { fatal: boolean, id?: number }) {
    super('ERR_HANDOFF_BAD_FRAME', message, { ...options, reason: 'bad-frame' })
  }
}

/**
 * A frame, body or section over its limit. Fatal when the header declares a
 * frame over maxFrameSize or a control body over its limit; not fatal for a
 * HANDOFF section (REJECT "frame-too-large") or when raised by an encoder.
 */
export class FrameTooLargeError extends HandoffProtocolError {
  readonly size: number
  readonly limit: number
  constructor (what: string, size: number, limit: number, options: { fatal: boolean, id?: number }) {
    super('ERR_HANDOFF_FRAME_TOO_LARGE', `${what} of ${size} bytes exceeds the limit of ${limit}`,
      { ...options, reason: 'frame-too-large' })
    this.size = size
    this.limit = limit
  }
}

/**
 * A body whose content is invalid (not UTF-8, not JSON, not an object, a field
 * missing or of the wrong type). HANDOFF: not fatal, REJECT "bad-metadata".
 * Other types: fatal, ERROR "bad-message".
 */
export class BadMessageError extends HandoffProtocolError {
  constructor (message: string, options: { fatal: boolean, id?: number, cause?: unknown }) {
    super('ERR_HANDOFF_BAD_MESSAGE', message,
      { ...options, reason: options.fatal ? 'bad-message' : 'bad-metadata' })
  }
}

/** A HANDOFF whose descriptors are not exactly one. Not fatal: close them, REJECT with `reason`. */
export class DescriptorError extends HandoffProtocolError {
  constructor (reason: 'descriptors-missing' | 'descriptors-truncated' | 'too-many-descriptors',
    message: string, id?: number) {
    super('ERR_HANDOFF_BAD_DESCRIPTORS', message, { fatal: false, reason, id })
  }
}

/** The HELLOs share no protocol version. Fatal: ERROR "unsupported-version". */
export class UnsupportedVersionError extends HandoffProtocolError {
  constructor (message: string) {
    super('ERR_HANDOFF_UNSUPPORTED_VERSION', message, { fatal: true, reason: 'unsupported-version' })
  }
}

/** Both peers said the same role in their HELLO. Fatal: ERROR "role-mismatch". */
export class RoleMismatchError extends HandoffProtocolError {
  constructor (role: string) {
    super('ERR_HANDOFF_ROLE_MISMATCH', `both peers are "${role}"`, { fatal: true, reason: 'role-mismatch' })
  }
}

/**
 * A well-formed frame that is not allowed here (before HELLO, a second HELLO,
 * a type the other role sends). Fatal: ERROR "unexpected-frame".
 */
export class UnexpectedFrameError extends HandoffProtocolError {
  constructor (message: string) {
    super('ERR_HANDOFF_UNEXPECTED_FRAME', message, { fatal: true, reason: 'unexpected-frame' })
  }
}

/** An encoder was given something the protocol cannot carry. Nothing was sent. */
export class InvalidArgumentError extends HandoffProtocolError {
  constructor (message: string, cause?: unknown) {
    super('ERR_HANDOFF_INVALID_ARG', message, { fatal: false, reason: 'internal', cause })
  }
}

export function isProtocolError (err: unknown): err is HandoffProtocolError {
  return err instanceof HandoffProtocolError
}

export function isRejectReason (value: unknown): value is RejectReason {
  return typeof value === 'string' && (REJECT_REASONS as readonly string[]).includes(value)
}

export function isErrorReason (value: unknown): value is ErrorReason {
  return typeof value === 'string' && (ERROR_REASONS as readonly string[]).includes(value)
}
