'use strict'
// Issue 14, item 9: live migration of established WebSockets to a new
// sibling. Two siblings (test/fixtures/migrate-sibling.js: node:http + ws
// echo + wsMigration), a client process holding N WebSockets on the old one,
// each sending a numbered message every N/5 ms (5,000 messages/s in all).
// Each size runs a window without a move (the baseline), then the same
// window on the same connections with a move 1 s in, and reports:
//   - the time to move them all (the report's ms) and what moved/stayed;
//   - the client-visible pause of a moved connection: its worst echo latency
//     in the window minus the baseline's median latency (p50/p99/max over
//     the connections);
//   - echoes/s during the move beside the same span of the baseline window.
// Targets on a 2-core machine: 1,000 moved in < 1 s, p99 pause <= 50 ms.
const path = require('node:path')
const { fork } = require('node:child_process')
const { parseArgs, num, fmt, table, percentile, tempDir, sleep, verdict } = require('./lib/common.js')

const args = parseArgs()
const quick = args.quick
const SIZES = typeof args.sizes === 'string' ? args.sizes.split(',').map(Number) : (quick ? [50] : [1000, 10000])
const CONCURRENCY = num(args.concurrency, 16)
const FIXTURE = path.join(__dirname, '..', 'test', 'fixtures', 'migrate-sibling.js')

function child (file, argv) {
  const proc = fork(file, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const messages = []
  let waiters = []
  proc.on('message', (m) => { messages.push(m); const w = waiters; waiters = []; for (const f of w) f() })
  const waitFor = async (match, limitMs = 120000) => {
    const deadline = Date.now() + limitMs
    for (;;) {
      const i = messages.findIndex(match)
      if (i >= 0) return messages.splice(i, 1)[0]
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`${file}: no answer (${JSON.stringify(messages)})`)
      await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 1000) })
    }
  }
  return {
    proc,
    waitFor,
    request: async (cmd, extra = {}, limitMs) => { proc.send({ cmd, ...extra }); return await waitFor((m) => m.reply === cmd, limitMs) },
    kill: () => { if (proc.exitCode === null) proc.kill('SIGKILL') }
  }
}

function countBetween (times, from, to) {
  let n = 0
  for (const t of times) if (t >= from && t < to) n++
  return n
}

async function one (n, dir) {
  const interval = Math.max(20, Math.round(n / 5))
  // --quick: a smoke run (the figures mean nothing), kept short for test/bench-smoke.ts.
  const windowMs = quick ? 800 : Math.max(4000, 1000 + Math.ceil(n * 1.2) + 2 * interval)
  const lead = quick ? 200 : 1000
  const old = child(FIXTURE, [JSON.stringify({ path: path.join(dir, `old-${n}.sock`), listen: true })])
  const next = child(FIXTURE, [JSON.stringify({ path: path.join(dir, `next-${n}.sock`) })])
  const clients = child(path.join(__dirname, 'migrate', 'client.js'), [])
  try {
    const { port } = await old.waitFor((m) => m.event === 'ready')
    await next.waitFor((m) => m.event === 'ready')
    const { opened } = await clients.request('open', { port, connections: n, deflate: false })
    // Warm-up (JIT), then the baseline window.
    await clients.request('run', { ms: lead, interval })
    const baseStart = Date.now()
    const base = await clients.request('run', { ms: windowMs, interval })
    const running = clients.request('run', { ms: windowMs, interval })
    const runStart = Date.now()
    await sleep(lead)
    const moveStart = Date.now()
    const { report } = await old.request('move', { address: path.join(dir, `next-${n}.sock`), options: { concurrency: CONCURRENCY } })
    const moveEnd = Date.now()
    const moved = await running
    const pause = moved.perConnectionMax.map((ms) => Math.max(0, ms - base.latencies.p50))
    const spanS = Math.max(0.001, (moveEnd - moveStart) / 1000)
    const during = countBetween(moved.echoTimes, moveStart, moveEnd) / spanS
    const sameSpan = countBetween(base.echoTimes, baseStart + (moveStart - runStart), baseStart + (moveEnd - runStart)) / spanS
    return { n, opened, report, base, moved, pause, during, sameSpan, interval }
  } finally {
    await clients.request('close').catch(() => {})
    for (const c of [old, next, clients]) c.kill()
  }
}

async function main () {
  const dir = tempDir('handoff-bench-migrate-')
  const rows = []
  const notes = []
  for (const n of SIZES) {
    const r = await one(n, dir)
    const kept = Object.entries(r.report.kept).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
    rows.push([
      fmt(r.opened, 0), `${fmt(r.report.ms, 0)} ms`, `${r.report.moved} / kept: ${kept} / closed ${r.report.closed}`,
      `${fmt(percentile(r.pause, 50), 1)} / ${fmt(percentile(r.pause, 99), 1)} / ${fmt(Math.max(...r.pause), 1)} ms`,
      `${fmt(r.base.latencies.p50, 2)} / ${fmt(r.base.latencies.p99, 2)} / ${fmt(r.base.latencies.max, 1)} ms`,
      `${fmt(r.during, 0)} (without a move: ${fmt(r.sameSpan, 0)})`,
      `${r.moved.errors} / ${r.moved.closes}`
    ])
    if (n === 1000) {
      notes.push(`1,000 moved in under 1 s: ${verdict(r.report.ms < 1000 && r.report.moved === 1000)} (${r.report.ms} ms); ` +
        `p99 pause <= 50 ms: ${verdict(percentile(r.pause, 99) <= 50)} (${fmt(percentile(r.pause, 99), 1)} ms).`)
    }
  }
  table(`Live migration: WebSockets moved to a new sibling under traffic (concurrency ${CONCURRENCY}, 5,000 msg/s in all)`,
    ['WebSockets', 'time to move all', 'moved / kept / closed', 'pause of a moved connection p50 / p99 / max', 'echo latency without a move p50 / p99 / max', 'echoes/s during the move', 'echo errors / closes'],
    rows,
    [...notes, 'Pause: a moved connection\'s worst echo latency in the window minus the median echo latency without a move. ' +
      'Echo errors: a number lost, repeated or out of order, or a message never answered.'])
}

main().catch((err) => { console.error(err); process.exit(1) })
