// A latency histogram with fixed buckets, cheap enough to run on every
// handoff: observe() adds to preallocated counters and allocates nothing.
// Bucket counts are kept per bucket and made cumulative (Prometheus' `le`)
// only when someone reads them.

/** Upper bounds, in seconds: from a quick handoff on an idle machine (< 1 ms) to the default deadline (5 s) plus grace. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
])

export interface HistogramSnapshot {
  /** [upper bound in seconds, observations ≤ it], cumulative, in order; the last bound is Infinity. */
  buckets: Array<[number, number]>
  /** Sum of every observation, in seconds. */
  sum: number
  count: number
}

export class Histogram {
  private readonly bounds: readonly number[]
  /** One slot per bound, plus the +Inf one. */
  private readonly counts: Float64Array
  private total = 0
  private observations = 0

  constructor (bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe (seconds: number): void {
    let i = 0
    const n = this.bounds.length
    while (i < n && seconds > this.bounds[i]) i++
    this.counts[i]++
    this.total += seconds
    this.observations++
  }

  snapshot (): HistogramSnapshot {
    const buckets: Array<[number, number]> = []
    let running = 0
    for (let i = 0; i <= this.bounds.length; i++) {
      running += this.counts[i]
      buckets.push([i < this.bounds.length ? this.bounds[i] : Infinity, running])
    }
    return { buckets, sum: this.total, count: this.observations }
  }
}
