// A Sender's stats() as Prometheus metrics (names: docs/metrics.md). Read
// once per scrape: each collector takes one snapshot.
import type { SenderStats } from './sender-stats.js'
import { registerDeployMetrics } from './deploy-prometheus.js'
import { Collector, histogramSamples, recordSamples, registerAll, registryOf, type Sample } from './prometheus.js'

/** Samples of every target: `each` gives one target's, its `target` label set. */
function perTarget (source: { stats: () => SenderStats }, each: (target: string, stats: SenderStats['targets'][string]) => Sample[]): () => Sample[] {
  return () => {
    const out: Sample[] = []
    for (const [name, stats] of Object.entries(source.stats().targets)) out.push(...each(name, stats))
    return out
  }
}

/** Per receiver of every target, labelled { target, receiver }. */
function perReceiver (source: { stats: () => SenderStats }, pick: (r: SenderStats['targets'][string]['receivers'][string]) => number): () => Sample[] {
  return perTarget(source, (target, stats) =>
    Object.entries(stats.receivers).map(([receiver, r]) => ({ labels: { target, receiver }, value: pick(r) })))
}

export function registerSenderMetrics (source: { stats: () => SenderStats }, options: unknown): void {
  const registry = registryOf(options)
  registerAll(registry, [
    new Collector('fastify_handoff_sender_handoffs_total',
      'Handoffs by target and how they ended (accepted: handed off; rejected, unavailable, timeout, lost, unsent, refused, doubt, closed: stayed here)',
      'counter', perTarget(source, (target, s) => recordSamples('outcome', s.outcomes, { target }))),
    new Collector('fastify_handoff_sender_rejections_total', 'Handoffs a receiver finally REJECTed, by target and reason', 'counter',
      perTarget(source, (target, s) => recordSamples('reason', s.rejected, { target }))),
    new Collector('fastify_handoff_sender_fallbacks_total',
      'Connections that stayed here, by target and what was done: unavailable (503), local (the app\'s handler), none (closed unanswered, or left to a handoff under way)',
      'counter', perTarget(source, (target, s) => recordSamples('fallback', s.fallbacks, { target }))),
    new Collector('fastify_handoff_sender_unknown_target_total', 'Handoffs naming a target this sender does not have', 'counter',
      () => [{ labels: {}, value: source.stats().unknownTarget }]),
    new Collector('fastify_handoff_sender_in_flight', 'Handoffs between detach and verdict now, by target', 'gauge',
      perTarget(source, (target, s) => [{ labels: { target }, value: s.inFlight }])),
    new Collector('fastify_handoff_sender_handoff_duration_seconds', 'Seconds from detach to verdict, by target', 'histogram',
      perTarget(source, (target, s) => histogramSamples('fastify_handoff_sender_handoff_duration_seconds', { target }, s.latency))),
    new Collector('fastify_handoff_sender_receiver_live_connections',
      'Handed-off connections each receiver last reported serving (STATUS, ACCEPT)', 'gauge', perReceiver(source, (r) => r.live)),
    new Collector('fastify_handoff_sender_receiver_up', '1 when the receiver takes handoffs now, else 0', 'gauge',
      perReceiver(source, (r) => r.up ? 1 : 0)),
    new Collector('fastify_handoff_sender_receiver_reconnects_total',
      'Channels to the receiver made again after the first one (a restart, a lost channel)', 'counter', perReceiver(source, (r) => r.reconnects))
  ])
  registerDeployMetrics(registry)
}
