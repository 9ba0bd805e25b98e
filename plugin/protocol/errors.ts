// What a protocol violation says. Every violation the codec finds is one
// error, ERR_HANDOFF_PROTOCOL (plugin/errors.ts, which loads nothing heavy,
// so the codec still loads without the addon and without fastify); what was
// broken is data on it, not a class of its own:
//  - `reason`: the machine-readable string to put in the REJECT or ERROR
//    frame that answers it;
//  - `fatal: true`  → framing cannot go on. Send ERROR { reason } and drop the peer;
//  - `fatal: false` → only this frame is bad. For a HANDOFF: close its
//    descriptors, send REJECT { reason } with `id`, keep serving.
// An encoder given something the protocol cannot carry throws
// ERR_HANDOFF_INVALID_ARG instead (a caller's bug; nothing was sent).
import { ERR_HANDOFF_PROTOCOL, type Cause } from '../errors.js'

export { ERR_HANDOFF_PROTOCOL, ERR_HANDOFF_INVALID_ARG } from '../errors.js'

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

export interface HandoffProtocolError extends Error {
  readonly code: string
  /** What to put in the REJECT (not fatal) or ERROR (fatal) frame. */
  readonly reason: ProtocolReason
  /** Framing cannot continue: send ERROR and drop the peer. */
  readonly fatal: boolean
  /** Id of the offending frame, when the header was readable (what a REJECT must echo). */
  id: number | undefined
  /** 'frame-too-large': the size found and the limit it broke. */
  readonly size?: number
  readonly limit?: number
  /** 'bad-version': the version in the header. */
  readonly version?: number
  /** 'bad-type': the type byte in the header. */
  readonly frameType?: number
}

export interface ViolationOptions {
  fatal: boolean
  id?: number | undefined
  cause?: unknown
  size?: number
  limit?: number
  version?: number
  frameType?: number
}

/** A protocol violation: ERR_HANDOFF_PROTOCOL with its reason, fatality, frame id and details. */
export function protocolError (reason: ProtocolReason, message: string, options: ViolationOptions): HandoffProtocolError {
  const { cause, ...fields } = options
  const err = cause === undefined ? new ERR_HANDOFF_PROTOCOL(message) : new ERR_HANDOFF_PROTOCOL(message, { cause } satisfies Cause)
  return Object.assign(err, { reason, id: undefined, ...fields })
}

/** A frame, body or section over its limit ('frame-too-large'). */
export function frameTooLarge (what: string, size: number, limit: number,
  options: { fatal: boolean, id?: number | undefined }): HandoffProtocolError {
  return protocolError('frame-too-large', `${what} of ${size} bytes exceeds the limit of ${limit}`, { ...options, size, limit })
}

export function isProtocolError (err: unknown): err is HandoffProtocolError {
  return err instanceof ERR_HANDOFF_PROTOCOL
}

export function isRejectReason (value: unknown): value is RejectReason {
  return typeof value === 'string' && (REJECT_REASONS as readonly string[]).includes(value)
}

export function isErrorReason (value: unknown): value is ErrorReason {
  return typeof value === 'string' && (ERROR_REASONS as readonly string[]).includes(value)
}
