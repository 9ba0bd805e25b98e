// How a status answer is shown: a short text for people, one JSON object for
// scripts (stable member names, the report's own plus who answered).
import type { StatusAnswer } from './query.js'

export interface StatusJson {
  address: string
  receiver: {
    /** From the kernel (SO_PEERCRED) when it tells, else the receiver's own word. */
    pid: number
    uid: number | null
    gid: number | null
    name?: string
    implementation: string
    /** Protocol versions the receiver speaks (its HELLO). */
    protocol: { minVersion: number, version: number }
    startedAt: number
    uptimeMs: number
  }
  live: number
  max: number | null
  draining: boolean
  total: number
  rejected: number
  peers: number
  untrustedPeers: number
  senders: Array<{ pid: number, uid: number, gid: number, name?: string }>
}

export function statusJson (answer: StatusAnswer, now = Date.now()): StatusJson {
  const { report, hello, credentials } = answer
  return {
    address: answer.address,
    receiver: {
      pid: credentials !== null && credentials.pid > 0 ? credentials.pid : report.pid,
      uid: credentials?.uid ?? null,
      gid: credentials?.gid ?? null,
      ...(report.name === undefined ? {} : { name: report.name }),
      implementation: report.implementation,
      protocol: { minVersion: hello.minVersion, version: hello.version },
      startedAt: report.startedAt,
      uptimeMs: Math.max(0, now - report.startedAt)
    },
    live: report.live,
    max: report.max,
    draining: report.draining,
    total: report.total,
    rejected: report.rejected,
    peers: report.peers,
    untrustedPeers: report.untrustedPeers,
    senders: report.senders
  }
}

export function formatDuration (ms: number): string {
  const s = Math.floor(ms / 1000)
  const parts: Array<[number, string]> = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'], [Math.floor(s / 60) % 60, 'm'], [s % 60, 's']]
  const first = parts.findIndex(([n]) => n > 0)
  return first === -1 ? '0s' : parts.slice(first).map(([n, unit]) => `${n}${unit}`).join(' ')
}

function who (p: { pid: number, uid: number | null, gid: number | null, name?: string }): string {
  const ids = p.uid === null ? '' : ` (uid ${p.uid}, gid ${p.gid ?? '?'})`
  return `pid ${p.pid}${ids}${p.name === undefined ? '' : ` "${p.name}"`}`
}

export function formatStatus (answer: StatusAnswer, now = Date.now()): string {
  const s = statusJson(answer, now)
  const r = s.receiver
  const listed = s.senders.map((sender) => `              ${who(sender)}`)
  const unlisted = s.peers - s.senders.length
  const lines = [
    `fastify-handoff receiver at ${s.address}`,
    `  process     ${who(r)}`,
    `  version     ${r.implementation}, protocol ${r.protocol.minVersion === r.protocol.version ? r.protocol.version : `${r.protocol.minVersion}-${r.protocol.version}`}`,
    `  up          ${formatDuration(r.uptimeMs)} (since ${new Date(r.startedAt).toISOString()})`,
    `  state       ${s.draining ? 'draining (new handoffs are refused)' : 'accepting handoffs'}`,
    `  live        ${s.live} connection${s.live === 1 ? '' : 's'}${s.max === null ? '' : ` (max ${s.max})`}`,
    `  totals      ${s.total} handed off, ${s.rejected} rejected, ${s.untrustedPeers} untrusted peer${s.untrustedPeers === 1 ? '' : 's'} dropped`,
    `  senders     ${s.peers} connected`,
    ...listed,
    ...(unlisted > 0 ? [`              (${unlisted} not listed: still in their HELLO, or beyond what one report holds)`] : [])
  ]
  return lines.join('\n') + '\n'
}
