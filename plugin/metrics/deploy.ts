// The zero-downtime work's figures, for this process: listener takeovers
// (plugin/takeover/) and live migrations (plugin/migrate/). Process-wide, not
// per object: a deploy replaces the objects that did it (a generation hands
// over and exits; a Migration is per server), while the counts must outlive
// them for a scrape to see them.

export interface DeployStats {
  /** Listener takeovers, seen from the generation that ran: its listeners went to a successor, or the successor failed and this one served on. */
  takeovers: { handedOver: number, rolledBack: number }
  /** Live migrations run from this process (moveTo()), and what became of their connections. */
  migration: {
    runs: number
    moved: number
    /** Connections that stayed here, by reason (KeptReason of plugin/migrate/cut.ts). */
    kept: Record<string, number>
    /** Connections that closed during a move. */
    closed: number
  }
}

const counts: DeployStats = {
  takeovers: { handedOver: 0, rolledBack: 0 },
  migration: { runs: 0, moved: 0, kept: {}, closed: 0 }
}

/** A copy of this process's deploy figures since it started. */
export function deployStats (): DeployStats {
  return {
    takeovers: { ...counts.takeovers },
    migration: { ...counts.migration, kept: { ...counts.migration.kept } }
  }
}

export function countTakeover (result: 'handedOver' | 'rolledBack'): void {
  counts.takeovers[result]++
}

/** One finished move: its report (plugin/migrate/move.ts MigrationReport). */
export function countMigration (report: { moved: number, kept: Partial<Record<string, number>>, closed: number }): void {
  const m = counts.migration
  m.runs++
  m.moved += report.moved
  m.closed += report.closed
  for (const [reason, n] of Object.entries(report.kept)) m.kept[reason] = (m.kept[reason] ?? 0) + (n ?? 0)
}
