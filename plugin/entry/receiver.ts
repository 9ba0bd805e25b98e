// `fastify-handoff/receiver`: the sibling side without a framework, for a
// node:http server (with `ws`) or a raw 'handoff' listener. Nothing here
// imports fastify, so its types compile where fastify is not installed;
// Fastify siblings use `handoffReceiver` from the main entry.
export { createReceiver, type Receiver, type ReceiverOptions, type ReceiverStats, type ReceiverEvents, type RejectEvent } from '../receiver/receiver.js'
export { handoffInfo, type HandoffInfo, type HandoffSender, type InfoSource } from '../receiver/info.js'
export type { Allowlist } from '../credentials.js'
export type { DeliveryServer, FastifyLike } from '../receiver/deliver.js'
export type { HandoffLogger, HandoffLogger as Logger } from '../logger.js'
export type { PeerIdentity } from '../receiver/peer.js'
export type { HistogramSnapshot } from '../metrics/histogram.js'
export type { MetricsOptions, MetricsRegistry } from '../metrics/prometheus.js'
