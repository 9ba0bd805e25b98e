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
// --stages: also where the pause goes, stage by stage (bench/migrate/breakdown.js);
// --profile DIR: both siblings' CPU profiles of the window with the move, into DIR.
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { breakdown, printBreakdown } = require('./migrate/breakdown.js')
const { parseArgs, num, fmt, table, percentile, tempDir, sleep, verdict, procCpuMicros, median } = require('./lib/common.js')

const args = parseArgs()
const quick = args.quick
const SIZES = typeof args.sizes === 'string' ? args.sizes.split(',').map(Number) : (quick ? [50] : [1000, 10000])
const CONCURRENCY = num(args.concurrency, 8)
const FIXTURE = path.join(__dirname, '..', 'test', 'fixtures', 'migrate-sibling.js')
const PROFILE = typeof args.profile === 'string' ? path.resolve(args.profile) : null
const STAGES = args.stages === true || PROFILE !== null
const IDLE = num(args.idle, 0)
const SIBLING_ARGV = STAGES ? ['--require', path.join(__dirname, 'migrate', 'stages-preload.js')] : []
if (PROFILE !== null) process.env.MIGRATE_PROFILE_DIR = PROFILE

function child (file, argv, execArgv = []) {
  const proc = fork(file, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv })
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

// --idle K: no traffic; the connections move K times back and forth between
// the two siblings; each move's time and CPU (both siblings), for comparing
// changes on a loaded machine (the median of K, CPU rather than wall time).
async function idleMoves (n, opened, dir, old, next) {
  const moves = []
  if (PROFILE !== null) await Promise.all([old.request('profile'), next.request('profile')])
  let [from, to, toPath] = [old, next, path.join(dir, `next-${n}.sock`)]
  for (let i = 0; i < IDLE; i++) {
    const before = [procCpuMicros(from.proc.pid), procCpuMicros(to.proc.pid)]
    const { report } = await from.request('move', { address: toPath, options: { concurrency: CONCURRENCY } })
    moves.push({ ms: report.ms, moved: report.moved, from: (procCpuMicros(from.proc.pid) - before[0]) / 1000, to: (procCpuMicros(to.proc.pid) - before[1]) / 1000 })
    ;[from, to, toPath] = [to, from, path.join(dir, `${to === next ? 'old' : 'next'}-${n}.sock`)]
  }
  if (PROFILE !== null) await Promise.all([old.request('stages', { name: `idle-a-${n}` }), next.request('stages', { name: `idle-b-${n}` })])
  return { n, opened, idle: moves }
}

async function one (n, dir) {
  const interval = Math.max(20, Math.round(n / 5))
  // --quick: a smoke run (the figures mean nothing), kept short for test/bench-smoke.ts.
  const windowMs = quick ? 800 : Math.max(4000, 1000 + Math.ceil(n * 1.2) + 2 * interval)
  const lead = quick ? 200 : 1000
  const old = child(FIXTURE, [JSON.stringify({ path: path.join(dir, `old-${n}.sock`), listen: true })], SIBLING_ARGV)
  const next = child(FIXTURE, [JSON.stringify({ path: path.join(dir, `next-${n}.sock`) })], SIBLING_ARGV)
  const clients = child(path.join(__dirname, 'migrate', 'client.js'), [])
  try {
    const { port } = await old.waitFor((m) => m.event === 'ready')
    await next.waitFor((m) => m.event === 'ready')
    const { opened } = await clients.request('open', { port, connections: n, deflate: false })
    if (IDLE > 0) return await idleMoves(n, opened, dir, old, next)
    // Warm-up (JIT), then the baseline window.
    await clients.request('run', { ms: lead, interval })
    const baseStart = Date.now()
    const base = await clients.request('run', { ms: windowMs, interval })
    // The baseline's records and event-loop delays, set aside.
    const baseLoops = STAGES ? [await old.request('stages'), await next.request('stages')] : null
    if (PROFILE !== null) await Promise.all([old.request('profile'), next.request('profile')])
    const running = clients.request('run', { ms: windowMs, interval })
    const runStart = Date.now()
    await sleep(lead)
    const cpuBefore = [procCpuMicros(old.proc.pid), procCpuMicros(next.proc.pid)]
    const moveStart = Date.now()
    const { report } = await old.request('move', { address: path.join(dir, `next-${n}.sock`), options: { concurrency: CONCURRENCY } })
    const moveEnd = Date.now()
    // CPU of each sibling over the move (traffic included: compare with the same span without a move).
    const cpu = [procCpuMicros(old.proc.pid) - cpuBefore[0], procCpuMicros(next.proc.pid) - cpuBefore[1]].map((us) => us / 1000)
    const moved = await running
    const pause = moved.perConnectionMax.map((ms) => Math.max(0, ms - base.latencies.p50))
    // The same, over the connection's own worst echo without a move (what the move added for it).
    const extra = moved.perConnectionMax.map((ms, i) => Math.max(0, ms - base.perConnectionMax[i]))
    const spanS = Math.max(0.001, (moveEnd - moveStart) / 1000)
    const during = countBetween(moved.echoTimes, moveStart, moveEnd) / spanS
    const sameSpan = countBetween(base.echoTimes, baseStart + (moveStart - runStart), baseStart + (moveEnd - runStart)) / spanS
    const stages = STAGES
      ? { base: baseLoops, old: await old.request('stages', { name: `old-${n}` }), next: await next.request('stages', { name: `next-${n}` }) }
      : null
    return { n, opened, report, base, moved, pause, extra, during, sameSpan, interval, stages, moveStart, moveEnd, cpu }
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
    const loadBefore = os.loadavg()[0]
    const r = await one(n, dir)
    r.load = `${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after`
    if (r.idle !== undefined) {
      const med = (k) => median(r.idle.map((m) => m[k]))
      console.log(`idle ${n} x${IDLE} (c ${CONCURRENCY}, load ${r.load}): median ms ${med('ms')}, cpu from ${med('from')} to ${med('to')}; moved ${r.idle.map((m) => m.moved).join(',')}; ms ${r.idle.map((m) => m.ms).join(',')}`)
      continue
    }
    const kept = Object.entries(r.report.kept).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
    rows.push([
      fmt(r.opened, 0), `${fmt(r.report.ms, 0)} ms`, `${r.report.moved} / kept: ${kept} / closed ${r.report.closed}`,
      `${fmt(percentile(r.pause, 50), 1)} / ${fmt(percentile(r.pause, 99), 1)} / ${fmt(Math.max(...r.pause), 1)} ms`,
      `${fmt(percentile(r.extra, 50), 1)} / ${fmt(percentile(r.extra, 99), 1)} / ${fmt(Math.max(...r.extra), 1)} ms`,
      `${fmt(r.base.latencies.p50, 2)} / ${fmt(r.base.latencies.p99, 2)} / ${fmt(r.base.latencies.max, 1)} ms`,
      `${fmt(r.during, 0)} (without a move: ${fmt(r.sameSpan, 0)})`,
      `${r.moved.errors} / ${r.moved.closes}`
    ])
    notes.push(`${fmt(n, 0)}: CPU during the move (${fmt(r.report.ms, 0)} ms, echoes included): old sibling ${fmt(r.cpu[0], 0)} ms, new sibling ${fmt(r.cpu[1], 0)} ms.`)
    const phase = (from, to) => {
      const l = []
      r.moved.echoTimes.forEach((t, i) => { if (t >= from && t < to) l.push(r.moved.echoLatencies[i]) })
      return `${fmt(percentile(l, 50), 2)} / ${fmt(percentile(l, 99), 2)} ms`
    }
    notes.push(`${fmt(n, 0)}: echo latency p50 / p99 in the window with the move, before it: ${phase(0, r.moveStart)}; ` +
      `during it: ${phase(r.moveStart, r.moveEnd)}; after it: ${phase(r.moveEnd, Infinity)}. Load average ${r.load}.`)
    if (r.stages !== null) {
      const { base, old, next } = r.stages
      printBreakdown(n, breakdown(old, next, r.moved), [
        ['old sibling, window without a move', base[0].loop], ['old sibling, window with the move', old.loop],
        ['new sibling, window with the move', next.loop]])
    }
    if (n === 1000) {
      notes.push(`1,000 moved in under 1 s: ${verdict(r.report.ms < 1000 && r.report.moved === 1000)} (${r.report.ms} ms); ` +
        `p99 pause <= 50 ms: ${verdict(percentile(r.pause, 99) <= 50)} (${fmt(percentile(r.pause, 99), 1)} ms).`)
    }
  }
  if (rows.length === 0) return
  table(`Live migration: WebSockets moved to a new sibling under traffic (concurrency ${CONCURRENCY}, 5,000 msg/s in all)`,
    ['WebSockets', 'time to move all', 'moved / kept / closed', 'pause of a moved connection p50 / p99 / max', 'over its own worst without a move p50 / p99 / max', 'echo latency without a move p50 / p99 / max', 'echoes/s during the move', 'echo errors / closes'],
    rows,
    [...notes, 'Pause: a moved connection\'s worst echo latency in the window minus the median echo latency without a move ' +
      '(the targets are judged on this one); "over its own worst": minus that connection\'s worst echo latency in the window without a move. ' +
      'Echo errors: a number lost, repeated or out of order, or a message never answered.'])
}

main().catch((err) => { console.error(err); process.exit(1) })
