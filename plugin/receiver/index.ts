// The sibling side: accept senders, check who they are, rebuild the sockets
// they pass and serve them (docs/receiver.md).
export { createReceiver, Receiver, type ReceiverOptions, type ReceiverStats, type ReceiverEvents, type RejectEvent } from './receiver.js'
export { handoffInfo, type HandoffInfo, type HandoffSender, type InfoSource } from './info.js'
export type { Allowlist } from '../credentials.js'
export type { DeliveryServer, FastifyLike } from './deliver.js'
/** The 0.1 name of HandoffLogger (plugin/logger.ts). */
export type { HandoffLogger as Logger } from '../logger.js'
export type { PeerIdentity } from './peer.js'
