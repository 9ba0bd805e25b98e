// What a Sender counts, as plain numbers (sender.stats(), app.handoff.stats())
// and the source of its Prometheus collectors (sender-prometheus.ts). Every
// counter is made when the sender is built (its targets are fixed then), so
// a handoff only adds to numbers that exist: nothing is allocated per
// handoff, except the first time a receiver gives a REJECT reason never seen
// before (a short, fixed set: PROTOCOL.md §7).
import { Histogram, type HistogramSnapshot } from './histogram.js'

/** How a handoff ended: HandoffOutcome of plugin/sender/handoff.ts, repeated here so that this file imports no sender code. */
export const OUTCOMES = ['accepted', 'rejected', 'unavailable', 'timeout', 'lost', 'unsent', 'refused', 'doubt', 'closed'] as const
export type CountedOutcome = typeof OUTCOMES[number]

/** What was done with a connection that stayed: a 503, the app's local handler, or nothing (closed unanswered, or left to the handoff already under way). */
export const FALLBACKS = ['unavailable', 'local', 'none'] as const
export type CountedFallback = typeof FALLBACKS[number]

export interface ReceiverLinkStats {
  /** Handed-off connections this receiver last reported serving (STATUS, ACCEPT). */
  live: number
  /** It takes handoffs now. */
  up: boolean
  /** Channels opened to it that completed HELLO, the first one included. */
  connects: number
  /** Of those, the ones after the first: it restarted, or the channel was lost and made again. */
  reconnects: number
}

export interface TargetStats {
  /** Handoffs by how they ended; `accepted` is "handed off". Each handoff counts once. */
  outcomes: Record<CountedOutcome, number>
  /** Handoffs that ended with a REJECT (outcome `rejected`), by the receiver's reason. */
  rejected: Record<string, number>
  /** Connections that stayed here, by what was done with them. */
  fallbacks: Record<CountedFallback, number>
  /** Handoffs between detach and verdict now. */
  inFlight: number
  /** Seconds from detach (the connection ours no more) to the verdict, for every handoff that got that far. */
  latency: HistogramSnapshot
  /** By receiver (its path, as health() names it). */
  receivers: Record<string, ReceiverLinkStats>
}

export interface SenderStats {
  /** Handoffs between detach and verdict now, all targets. */
  inFlight: number
  /** Handoffs naming a target this sender does not have (refused: ERR_HANDOFF_UNKNOWN_TARGET). */
  unknownTarget: number
  targets: Record<string, TargetStats>
}

function zeroes<K extends string> (keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>
  for (const key of keys) out[key] = 0
  return out
}

/** One target's counters. */
export class TargetCounters {
  readonly outcomes = zeroes(OUTCOMES)
  readonly rejected = new Map<string, number>()
  readonly fallbacks = zeroes(FALLBACKS)
  readonly latency = new Histogram()
  inFlight = 0
  /** HELLOs completed, by receiver label. */
  readonly connects = new Map<string, number>()

  constructor (receivers: readonly string[]) {
    for (const label of receivers) this.connects.set(label, 0)
  }

  ended (outcome: CountedOutcome, reason?: string): void {
    this.outcomes[outcome]++
    if (reason !== undefined) this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
  }
}

/** The sender's counters; `live` says what its links know now (read at snapshot time, not counted). */
export class SenderCounters {
  readonly targets = new Map<string, TargetCounters>()
  unknownTarget = 0

  /** A handoff that ended before reaching a receiver: under its target, or as one to an unknown target. */
  endedEarly (target: string, outcome: CountedOutcome): void {
    const counters = this.targets.get(target)
    if (counters === undefined) this.unknownTarget++
    else counters.ended(outcome)
  }

  constructor (targets: Iterable<[string, readonly string[]]>) {
    for (const [name, receivers] of targets) this.targets.set(name, new TargetCounters(receivers))
  }

  snapshot (links: (target: string) => Array<{ label: string, live: number, up: boolean }>): SenderStats {
    const targets: Record<string, TargetStats> = {}
    let inFlight = 0
    for (const [name, c] of this.targets) {
      inFlight += c.inFlight
      const receivers: Record<string, ReceiverLinkStats> = {}
      for (const link of links(name)) {
        const connects = c.connects.get(link.label) ?? 0
        receivers[link.label] = { live: link.live, up: link.up, connects, reconnects: Math.max(0, connects - 1) }
      }
      targets[name] = {
        outcomes: { ...c.outcomes },
        rejected: Object.fromEntries(c.rejected),
        fallbacks: { ...c.fallbacks },
        inFlight: c.inFlight,
        latency: c.latency.snapshot(),
        receivers
      }
    }
    return { inFlight, unknownTarget: this.unknownTarget, targets }
  }
}
