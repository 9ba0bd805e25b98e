// A handoff the receiver rejects: it becomes a REJECT frame with this reason
// (PROTOCOL.md §6.4), and the connection stays the sender's. Whether the
// sender may retry elsewhere follows the protocol's defaults unless said
// otherwise (capacity and draining are retryable: another sibling, or this
// one later, may take the connection). "Reject" means only this
// (docs/errors.md, "Words").
import { ERR_HANDOFF_REJECTION, type Cause } from '../errors.js'
import { DEFAULT_RETRYABLE, type RejectReason } from '../protocol/index.js'

export interface Rejection extends Error {
  readonly code: string
  /** The REJECT reason. */
  readonly reason: RejectReason
  readonly retryable: boolean
}

/** ERR_HANDOFF_REJECTION with its reason and retryability as data. */
export function rejection (reason: RejectReason, message: string,
  options: { retryable?: boolean, cause?: unknown } = {}): Rejection {
  const err = options.cause === undefined
    ? new ERR_HANDOFF_REJECTION(message)
    : new ERR_HANDOFF_REJECTION(message, { cause: options.cause } satisfies Cause)
  return Object.assign(err, { reason, retryable: options.retryable ?? DEFAULT_RETRYABLE[reason] })
}

export function isRejection (err: unknown): err is Rejection {
  return err instanceof ERR_HANDOFF_REJECTION
}
