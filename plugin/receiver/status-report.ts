// What a receiver tells an observer (the command-line tool) that asked for
// its status (PROTOCOL.md §13): its load and totals, the senders connected
// to it, and who and what it is. Only senders whose HELLO was accepted are
// listed: a channel still in its HELLO wait may yet turn out to be another
// observer.
import type { PeerSummary, StatusReport } from '../protocol/index.js'
import { IMPLEMENTATION } from '../version.js'
import type { PeerIdentity } from './peer.js'

export interface ReportSource {
  live: number
  max: number | null
  draining: boolean
  total: number
  rejected: number
  untrustedPeers: number
  /** Every sender channel open now, ready or not (the observer's excluded). */
  peers: Array<{ ready: boolean, identity: PeerIdentity }>
  startedAt: number
  name?: string
}

export function statusReport (source: ReportSource): StatusReport {
  const senders: PeerSummary[] = source.peers.filter((peer) => peer.ready).map((peer) => {
    const { pid, uid, gid, name } = peer.identity
    return name === undefined ? { pid, uid, gid } : { pid, uid, gid, name }
  })
  const report: StatusReport = {
    live: source.live,
    max: source.max,
    draining: source.draining,
    total: source.total,
    rejected: source.rejected,
    peers: source.peers.length,
    untrustedPeers: source.untrustedPeers,
    senders,
    pid: process.pid,
    startedAt: source.startedAt,
    implementation: IMPLEMENTATION
  }
  if (source.name !== undefined) report.name = source.name
  return report
}
