'use strict'
// Issue 7, item 2: end to end, connect -> first byte from the sibling.
//
// The client connects, sends an HTTP upgrade request and times connect() ->
// the first byte of the answer ("101 ... hello", then the server ends the
// connection). Side by side, each in processes of its own, interleaved within
// each repetition (medians of 3):
//   direct     the web app answers itself
//   handoff    the web app (node:http + fastify-handoff's Sender) hands the
//              upgrade to the sibling (createReceiver replaying into its http server)
//   fastify    the same through the Fastify plugin (when dist/ exports it)
//   child.send the web app passes the socket with child.send(msg, socket) to a
//              forked sibling, which replays the request into its http server
// Latency at concurrency 1 (p50/p99), connections/s at 100 concurrent, and the
// CPU µs per connection of every server process (process.cpuUsage deltas).
const fs = require('node:fs')
const { parseArgs, num, median, fmt, fmtRatio, table, verdict, fastifyPlugin, repeatWithin, runsLabel } = require('./lib/common.js')
const { startScenario } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const reps = num(args.reps, quick ? 1 : 3)
// Repetitions stop early rather than run past this (the runner kills a script at 120 s).
const BUDGET_MS = num(args.budget, 95) * 1000
const P = quick
  ? { warmup: 50, latCount: 50, latSeconds: 0.5, rateCount: 200, rateSeconds: 0.5, concurrency: 20 }
  : { warmup: 500, latCount: 2000, latSeconds: 1.5, rateCount: 40000, rateSeconds: 2, concurrency: 100 }

async function measure (route) {
  const s = await startScenario({ app: 'upgrade-hello', route })
  try {
    const warm = await s.client('firstByte', { port: s.port, concurrency: 10, count: P.warmup, seconds: 3 })
    if (warm.n === 0) throw new Error(`no connection got an answer: ${warm.lastError}`)
    const lat = await s.client('firstByte', { port: s.port, concurrency: 1, count: P.latCount, seconds: P.latSeconds })
    const c0 = await s.cpu()
    const load = await s.client('firstByte', { port: s.port, concurrency: P.concurrency, count: P.rateCount, seconds: P.rateSeconds })
    const c1 = await s.cpu()
    const webapp = (c1.webapp - c0.webapp) / load.n
    const sibling = (c1.sibling - c0.sibling) / load.n
    return {
      p50: lat.p50,
      p99: lat.p99,
      latN: lat.n,
      rate: load.rate,
      n: load.n,
      errors: lat.errors + load.errors,
      lastError: load.lastError ?? lat.lastError,
      webappCpu: webapp,
      siblingCpu: sibling,
      serverCpu: (Number.isFinite(webapp) ? webapp : 0) + (Number.isFinite(sibling) ? sibling : 0)
    }
  } finally {
    await s.stop()
  }
}

async function main () {
  const routes = [
    { key: 'direct', route: 'direct-webapp', name: 'direct (web app answers)' },
    { key: 'handoff', route: 'handoff', name: 'fastify-handoff (node:http + Sender)' },
    ...(fastifyPlugin() !== null
      ? [{ key: 'fastify', route: 'fastify', name: 'fastify-handoff (Fastify plugin)' }]
      : []),
    { key: 'childsend', route: 'childsend', name: 'Node child.send to a forked sibling' }
  ]
  const results = Object.fromEntries(routes.map((r) => [r.key, []]))
  const errors = {}
  const ran = await repeatWithin(reps, BUDGET_MS, async () => {
    for (const r of routes) {
      try {
        results[r.key].push(await measure(r.route))
      } catch (err) {
        errors[r.key] = err.message.split('\n')[0]
        process.stderr.write(`e2e: ${r.name}: ${err.stack}\n`)
      }
    }
  })

  const m = (key, field) => median(results[key].map((x) => x[field]))
  const per = (a, b, f) => {
    const n = Math.min(results[a].length, results[b].length)
    const v = []
    for (let i = 0; i < n; i++) v.push(f(results[a][i], results[b][i]))
    return median(v)
  }
  table(`Connect -> first byte (${runsLabel(ran, reps)}; latency at concurrency 1, rate at ${P.concurrency} concurrent)`,
    ['route', 'p50 µs', 'p99 µs', 'conn/s', 'web app CPU µs/conn', 'sibling CPU µs/conn', 'server CPU µs/conn', 'errors'],
    routes.map((r) => results[r.key].length === 0
      ? [r.name, 'failed: ' + errors[r.key], '', '', '', '', '', '']
      : [r.name, fmt(m(r.key, 'p50'), 0), fmt(m(r.key, 'p99'), 0), fmt(m(r.key, 'rate'), 0),
          fmt(m(r.key, 'webappCpu'), 1), fmt(m(r.key, 'siblingCpu'), 1), fmt(m(r.key, 'serverCpu'), 1),
          String(results[r.key].reduce((a, x) => a + x.errors, 0))]),
    ['Server CPU = web app + sibling, from each process\'s own process.cpuUsage() over the rate phase, divided by the connections answered.'])

  const rows = []
  for (const r of routes) {
    if (r.key === 'direct') continue
    const added = per(r.key, 'direct', (a, b) => a.p50 - b.p50)
    const rate = per(r.key, 'direct', (a, b) => a.rate / b.rate)
    const cpu = per(r.key, 'direct', (a, b) => a.serverCpu / b.serverCpu)
    const ours = r.key !== 'childsend'
    const v = (x, ok) => !Number.isFinite(x) ? 'n/a' : ours ? verdict(ok) : (ok ? '(would meet)' : '(would miss)')
    rows.push([r.name, `${added >= 0 ? '+' : ''}${fmt(added, 0)} µs`, '≤ +60 µs', v(added, added <= 60),
      fmtRatio(rate), '≥ 0.85', v(rate, rate >= 0.85), fmtRatio(cpu), '≤ 1.5', v(cpu, cpu <= 1.5)])
  }
  table('Connect -> first byte: against direct, and targets (issue 7)',
    ['route', 'p50 added', 'target', '', 'conn/s ÷ direct', 'target', '', 'server CPU ÷ direct', 'target', ''],
    rows,
    ['Ratios are medians over repetitions of the per-repetition ratio. The child.send row is the alternative, for comparison (targets apply to fastify-handoff).'])

  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ bench: 'e2e', reps, P, results, errors }, null, 2))
  if (Object.keys(errors).length > 0) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
