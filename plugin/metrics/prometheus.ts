// Prometheus collectors without loading prom-client. Each metric is an
// object of the shape prom-client's Registry reads when it is scraped
// (name, help, type, aggregator, async get() → values, reset()), registered
// with the app's own registry.registerMetric(). Its values are read from the
// plain stats at scrape time: nothing runs per handoff, and nothing of
// prom-client is ever required by this package (the app's copy does the
// formatting). Its constructors would not do: a prom-client Histogram can
// only be fed observations, not given the cumulative counts we already keep.
import { ERR_HANDOFF_METRICS_OPTION } from '../errors.js'
import type { HistogramSnapshot } from './histogram.js'

/** What we use of a prom-client `Registry` (any version from 13 on: async get()). */
export interface MetricsRegistry {
  registerMetric (metric: never): void
}

/** The `metrics` option of the Sender, the Fastify plugin, the receiver and handoffReceiver. */
export interface MetricsOptions {
  /** A prom-client Registry (`new Registry()`, or prom-client's global `register`). */
  registry: MetricsRegistry
}

export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface Sample {
  labels: Record<string, string>
  value: number
  /** For a histogram's _bucket, _sum and _count lines. */
  metricName?: string
}

/** One metric as prom-client's Registry sees it. */
export class Collector {
  readonly aggregator = 'sum'

  constructor (readonly name: string, readonly help: string, readonly type: MetricType, private readonly read: () => Sample[]) {}

  async get (): Promise<{ name: string, help: string, type: MetricType, aggregator: string, values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() }
  }

  /** registry.resetMetrics(): these values are the library's own counts, which a registry does not reset. */
  reset (): void {}
}

/** A histogram snapshot as Prometheus samples: cumulative `_bucket`s by `le`, `_sum`, `_count`. */
export function histogramSamples (name: string, labels: Record<string, string>, h: HistogramSnapshot): Sample[] {
  const out: Sample[] = []
  for (const [le, count] of h.buckets) {
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: le === Infinity ? '+Inf' : String(le) }, value: count })
  }
  out.push({ metricName: `${name}_sum`, labels, value: h.sum })
  out.push({ metricName: `${name}_count`, labels, value: h.count })
  return out
}

/** A `{ label: count }` record as samples, one per key. */
export function recordSamples (label: string, record: Record<string, number>, labels: Record<string, string> = {}): Sample[] {
  return Object.entries(record).map(([key, value]) => ({ labels: { ...labels, [label]: key }, value }))
}

/** Checks the option: a registry is anything with registerMetric() (prom-client's Registry). */
export function registryOf (options: unknown): MetricsRegistry {
  if (typeof options !== 'object' || options === null) {
    throw new ERR_HANDOFF_METRICS_OPTION('metrics', 'expected { registry }, with a prom-client Registry')
  }
  const registry = (options as { registry?: unknown }).registry
  if (typeof registry !== 'object' || registry === null || typeof (registry as MetricsRegistry).registerMetric !== 'function') {
    throw new ERR_HANDOFF_METRICS_OPTION('metrics.registry', 'expected a prom-client Registry (an object with registerMetric())')
  }
  return registry as MetricsRegistry
}

/**
 * Registers every collector, or none: a name the registry has already (a
 * second sender on one registry) is refused before any is added.
 */
export function registerAll (registry: MetricsRegistry, collectors: Collector[]): void {
  const existing = registry as { getSingleMetric?: (name: string) => unknown }
  for (const c of collectors) {
    if (typeof existing.getSingleMetric === 'function' && existing.getSingleMetric(c.name) !== undefined) {
      throw new ERR_HANDOFF_METRICS_OPTION('metrics.registry',
        `it has a metric named ${c.name} already: one registry per sender and per receiver (prom-client's Registry.merge joins them)`)
    }
  }
  for (const c of collectors) registry.registerMetric(c as never)
}
