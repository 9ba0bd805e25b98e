// `fastify-handoff/sender`: the framework-free sender. Detach a client
// connection, hand it to a named target (a pool of receivers), settle who
// owns it, fall back when it stays. The front ends (the main entry's Fastify
// plugin, `/http`, `/express`) are thin layers over this.
export { createSender, type Sender } from '../sender/handoff.js'
export type {
  SenderOptions, SenderLogger, HandoffOptions, UpgradeHandoffOptions, RequestHandoffOptions, HandoffResult, HandoffOutcome,
  LaterRequests
} from '../sender/handoff.js'
export type { TargetOptions, TargetHealth, BalancePolicy } from '../sender/target.js'
export type { LinkHealth, LinkState, LinkLoad } from '../sender/link.js'
export type { UnavailableOptions } from '../sender/fallback.js'
export type { Allowlist } from '../credentials.js'
export type { SenderStats, TargetStats, ReceiverLinkStats } from '../metrics/sender-stats.js'
export type { HistogramSnapshot } from '../metrics/histogram.js'
export type { MetricsOptions, MetricsRegistry } from '../metrics/prometheus.js'
