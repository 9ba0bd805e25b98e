// A receiver's stats as Prometheus metrics (names: docs/metrics.md), read at
// scrape time.
import type { ReceiverStats } from '../receiver/receiver.js'
import { registerDeployMetrics } from './deploy-prometheus.js'
import { Collector, histogramSamples, recordSamples, registerAll, registryOf } from './prometheus.js'

export function registerReceiverMetrics (source: { readonly stats: ReceiverStats }, options: unknown): void {
  const registry = registryOf(options)
  const one = (pick: (s: ReceiverStats) => number) => () => [{ labels: {}, value: pick(source.stats) }]
  registerAll(registry, [
    new Collector('fastify_handoff_receiver_handoffs_total', 'HANDOFFs answered, by outcome: accepted (ACCEPT) or rejected (REJECT)', 'counter',
      () => { const s = source.stats; return recordSamples('outcome', { accepted: s.total, rejected: s.rejected }) }),
    new Collector('fastify_handoff_receiver_rejections_total', 'HANDOFFs answered with REJECT, by reason', 'counter',
      () => recordSamples('reason', source.stats.rejectedBy)),
    new Collector('fastify_handoff_receiver_live_connections', 'Handed-off connections open now', 'gauge', one((s) => s.live)),
    new Collector('fastify_handoff_receiver_target_live_connections',
      'Handed-off connections open now, by the target their HANDOFF named ("(none)" without one)', 'gauge',
      () => recordSamples('target', source.stats.liveByTarget)),
    new Collector('fastify_handoff_receiver_peers', 'Sender channels open now', 'gauge', one((s) => s.peers)),
    new Collector('fastify_handoff_receiver_sender_connections_total',
      'Sender channels that completed HELLO (a sender that reconnects counts again)', 'counter', one((s) => s.senderConnections)),
    new Collector('fastify_handoff_receiver_untrusted_peers_total', 'Connecting processes dropped for their credentials', 'counter',
      one((s) => s.untrustedPeers)),
    new Collector('fastify_handoff_receiver_draining', '1 while the receiver drains or shuts down, else 0', 'gauge', one((s) => s.draining ? 1 : 0)),
    new Collector('fastify_handoff_receiver_decision_duration_seconds', 'Seconds from a HANDOFF read to its ACCEPT in the kernel', 'histogram',
      () => histogramSamples('fastify_handoff_receiver_decision_duration_seconds', {}, source.stats.decision))
  ])
  registerDeployMetrics(registry)
}
