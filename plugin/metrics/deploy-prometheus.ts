// The deploy figures (deploy.ts) as Prometheus metrics, registered once per
// registry by whichever of this process's senders and receivers is given it
// first: they are the process's, not any one object's.
import { deployStats } from './deploy.js'
import { Collector, recordSamples, registerAll, type MetricsRegistry } from './prometheus.js'

const registered = new WeakSet<MetricsRegistry>()

export function registerDeployMetrics (registry: MetricsRegistry): void {
  if (registered.has(registry)) return
  registerAll(registry, [
    new Collector('fastify_handoff_takeovers_total',
      'Listener takeovers seen by the generation that ran: its listeners handed to a successor (handed_over) or kept after a failed one (rolled_back)',
      'counter', () => {
        const t = deployStats().takeovers
        return recordSamples('result', { handed_over: t.handedOver, rolled_back: t.rolledBack })
      }),
    new Collector('fastify_handoff_migrations_total', 'Live migrations (moveTo()) run from this process', 'counter',
      () => [{ labels: {}, value: deployStats().migration.runs }]),
    new Collector('fastify_handoff_migrated_connections_total',
      'WebSockets of live migrations by result: moved to the new sibling, kept here, or closed during the move', 'counter', () => {
        const m = deployStats().migration
        let kept = 0
        for (const n of Object.values(m.kept)) kept += n
        return recordSamples('result', { moved: m.moved, kept, closed: m.closed })
      }),
    new Collector('fastify_handoff_migration_kept_total', 'WebSockets a live migration kept here, by reason', 'counter',
      () => recordSamples('reason', deployStats().migration.kept))
  ])
  registered.add(registry)
}
