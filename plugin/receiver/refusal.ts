// A handoff the receiver will not serve. It becomes a REJECT frame with this
// reason (PROTOCOL.md §6.4); whether the sender may retry elsewhere follows
// the protocol's defaults unless said otherwise (capacity and draining are
// retryable: another sibling, or this one later, may take the connection).
import { DEFAULT_RETRYABLE, isRejectReason, type RejectReason } from '../protocol/index.js'

export class Refusal extends Error {
  readonly reason: RejectReason
  readonly retryable: boolean

  constructor (reason: RejectReason, message: string, options: { retryable?: boolean, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'Refusal'
    this.reason = reason
    this.retryable = options.retryable ?? (isRejectReason(reason) ? DEFAULT_RETRYABLE[reason] : false)
  }
}
