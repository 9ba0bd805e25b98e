// What a receiver counts beyond its original stats (live, total, rejected,
// peers, untrustedPeers): REJECTs by reason, live connections by target,
// sender channels made, and how long its decisions take. Counted where each
// event happens in receiver.ts; nothing is allocated per handoff except the
// first time a reason or a target name is seen.
import { Histogram, type HistogramSnapshot } from './histogram.js'

/** The label of connections whose HANDOFF named no target. */
export const NO_TARGET = '(none)'

export interface ReceiverCountsSnapshot {
  /** HANDOFFs answered with REJECT, by reason (PROTOCOL.md §7). */
  rejectedBy: Record<string, number>
  /** Handed-off connections open now, by the target their HANDOFF named ('(none)' without one). */
  liveByTarget: Record<string, number>
  /** Sender channels that completed HELLO since the start: a sender that reconnects counts again. */
  senderConnections: number
  /** Seconds from a HANDOFF read to its ACCEPT in the kernel, for every accepted handoff. */
  decision: HistogramSnapshot
}

export class ReceiverCounts {
  private readonly rejectedBy = new Map<string, number>()
  private readonly liveByTarget = new Map<string, number>()
  private readonly decision = new Histogram()
  senderConnections = 0

  rejected (reason: string): void {
    this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1)
  }

  /** A connection took a place (from before its ACCEPT, as maxConnections counts it); `closed` when it goes. */
  opened (target: string | undefined): void {
    const key = target ?? NO_TARGET
    this.liveByTarget.set(key, (this.liveByTarget.get(key) ?? 0) + 1)
  }

  closed (target: string | undefined): void {
    const key = target ?? NO_TARGET
    // The key stays at 0: a target that was served is still worth a series.
    this.liveByTarget.set(key, (this.liveByTarget.get(key) ?? 1) - 1)
  }

  decided (seconds: number): void {
    this.decision.observe(seconds)
  }

  snapshot (): ReceiverCountsSnapshot {
    return {
      rejectedBy: Object.fromEntries(this.rejectedBy),
      liveByTarget: Object.fromEntries(this.liveByTarget),
      senderConnections: this.senderConnections,
      decision: this.decision.snapshot()
    }
  }
}
