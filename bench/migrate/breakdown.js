'use strict'
// `bench/migrate.js --stages`: where a moved connection's pause goes. Joins
// the two siblings' stage records (bench/migrate/stages-preload.js) and the
// client's worst echo of each connection on the client's port (one
// monotonic clock for every process of the host), and prints, stage to
// stage, the median and p99 over the moved connections.
const { percentile, fmt, table } = require('../lib/common.js')

// [label, from, to]: o = old sibling, n = new sibling.
const ROWS = [
  ['turn came → cut at a frame boundary (reading stopped, write side idle)', 'o:cut-start', 'o:cut'],
  ['cut → HANDOFF encoded (state, metadata)', 'o:cut', 'o:encoded'],
  ['encoded → sendmsg returned (frame + fd in the kernel)', 'o:encoded', 'o:sent'],
  ['in the kernel → new sibling woken (its poll event)', 'o:sent', 'n:woken'],
  ['woken → frame cut and decoded', 'n:woken', 'n:decoded'],
  ['decoded → net.Socket rebuilt', 'n:decoded', 'n:rebuilt'],
  ['rebuilt → checks passed', 'n:rebuilt', 'n:checked'],
  ['checked → ACCEPT in the kernel', 'n:checked', 'n:answered'],
  ['ACCEPT in the kernel → WebSocket rebuilt, resume hook returned', 'n:answered', 'n:resumed'],
  ['**cut-start → resumed (the connection is nobody\'s reader)**', 'o:cut-start', 'n:resumed'],
  ['after: ACCEPT in the kernel → old sibling woken', 'n:answered', 'o:ack-woken'],
  ['after: woken → verdict in the move', 'o:ack-woken', 'o:verdict'],
  ['after: verdict → old copy closed', 'o:verdict', 'o:released'],
  ['the whole move: cut-start → old copy released', 'o:cut-start', 'o:released']
]

function index (records, side, into) {
  const { ports, stages, times } = records
  for (let i = 0; i < ports.length; i++) {
    let m = into.get(ports[i])
    if (m === undefined) into.set(ports[i], m = {})
    const key = `${side}:${stages[i]}`
    // The first time of each stage (a retried connection: its first try).
    if (m[key] === undefined) m[key] = times[i]
  }
}

function breakdown (oldRecords, newRecords, client) {
  const byPort = new Map()
  index(oldRecords, 'o', byPort)
  index(newRecords, 'n', byPort)
  const rows = []
  for (const [label, from, to] of ROWS) {
    const d = []
    for (const m of byPort.values()) if (m[from] !== undefined && m[to] !== undefined) d.push((m[to] - m[from]) / 1e6)
    if (d.length === 0) continue
    rows.push([label, fmt(percentile(d, 50), 2), fmt(percentile(d, 99), 2), fmt(Math.max(...d), 2), String(d.length)])
  }
  // The client's worst echo of each connection: sent while its connection
  // was held (cut-start → resumed), or before the cut (waiting in the old
  // sibling), or after (the new sibling's), and how long it took.
  const where = { before: [], held: [], after: [] }
  client.ports.forEach((port, i) => {
    const m = byPort.get(port)
    const at = client.maxSentAt[i]
    if (m === undefined || m['o:cut-start'] === undefined || m['n:resumed'] === undefined || at === 0) return
    const key = at < m['o:cut-start'] ? 'before' : at <= m['n:resumed'] ? 'held' : 'after'
    where[key].push(client.perConnectionMax[i])
  })
  const notes = Object.entries(where).map(([k, v]) =>
    `worst echo sent ${k === 'held' ? 'while its connection was held' : k === 'before' ? 'before its cut' : 'after its resume'}: ` +
    `${v.length} connections, latency p50 ${fmt(percentile(v, 50), 1)} / max ${fmt(v.length ? Math.max(...v) : NaN, 1)} ms`)
  return { rows, notes }
}

function printBreakdown (n, result, loops) {
  table(`Where the pause goes: one move of ${n} WebSockets, per connection (ms)`,
    ['stage', 'p50', 'p99', 'max', 'connections'], result.rows,
    [...result.notes, ...loops.map(([who, l]) => `${who}: event-loop delay p50 / p99 / max ${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} / ${fmt(l.max, 1)} ms`)])
}

module.exports = { breakdown, printBreakdown }
