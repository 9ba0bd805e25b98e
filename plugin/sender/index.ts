// The framework-free sender: detach a client connection, hand it to a named
// target (a pool of receivers), settle who owns it, fall back when it stays.
export { Sender, createSender } from './handoff.js'
export type {
  SenderOptions, SenderLogger, HandoffOptions, UpgradeHandoffOptions, RequestHandoffOptions, HandoffResult, HandoffOutcome,
  LaterRequests
} from './handoff.js'
export { detachUpgrade, detachRequest, requestHead, checkHandoffable } from './detach.js'
export type { Detached, ConnectionAddress } from './detach.js'
export { Target } from './target.js'
export type { TargetOptions, TargetHealth, BalancePolicy, TargetResult } from './target.js'
export { Link } from './link.js'
export type { LinkHealth, LinkState, LinkLoad, Verdict } from './link.js'
export { writeUnavailable, writeResponse, respondUnavailable, unavailableResponse, rawResponse } from './fallback.js'
export type { UnavailableOptions, RawResponse } from './fallback.js'
