'use strict'
// Issue 7, item 2: end to end, connect -> first byte from the sibling.
//
// The client connects, sends an HTTP upgrade request and times connect() ->
// the first byte of the answer ("101 ... hello", then the server ends the
// connection). The routes, all running at once, each server a process of its own:
//   direct     a web app answering itself
//   handoff    a web app (node:http + fastify-handoff's Sender) handing the
//              upgrade to the sibling (createReceiver replaying it into its http server)
//   fastify    a web app (Fastify + the fastifyHandoff plugin) handing it to the same sibling
//   child.send a web app passing the socket with child.send(msg, socket) to
//              its forked sibling, which replays the request into its http server
// Short phases alternate between the routes, round after round (the order
// rotates), so that a shared machine's changing load hits them alike:
// latency at concurrency 1 (p50/p99 over all rounds), then connections/s at
// 100 concurrent with the CPU µs per connection of every server process on
// the route (process.cpuUsage deltas).
const fs = require('node:fs')
const path = require('node:path')
const {
  parseArgs, num, median, percentile, fmt, fmtRatio, table, verdict, repeatWithin, tempDir
} = require('./lib/common.js')
const { startUpgradeRoutes, stopAll, warmUp, rotated } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
// --app ws-hello: Fastify + @fastify/websocket on every server, timed to the first WebSocket message.
const APP = args.app ?? 'upgrade-hello'
if (APP !== 'upgrade-hello' && APP !== 'ws-hello') throw new Error(`--app: upgrade-hello or ws-hello, not ${APP}`)
const WS = APP === 'ws-hello' ? { ws: true } : {}
const ROUNDS = num(args.rounds, quick ? 1 : 7)
const BUDGET_MS = num(args.budget, 80) * 1000
const P = quick
  ? { warmup: 30, latCount: 30, latSeconds: 0.3, rateCount: 200, rateSeconds: 0.3, concurrency: 20 }
  : { warmup: 500, latCount: 400, latSeconds: 0.6, rateCount: 30000, rateSeconds: 1.2, concurrency: 100 }

async function main () {
  const sockPath = path.join(tempDir(), 'sibling.sock')
  const procs = []
  const results = {}
  let routes
  let rounds = 0
  try {
    const { sibling, direct, handoff, fastify, child, client } = await startUpgradeRoutes(sockPath, procs, { app: APP })
    routes = [
      { key: 'direct', name: 'direct (web app answers)', port: direct.port, servers: [direct] },
      { key: 'handoff', name: 'fastify-handoff (node:http + Sender)', port: handoff.port, servers: [handoff, sibling] },
      ...(fastify ? [{ key: 'fastify', name: 'fastify-handoff (Fastify plugin)', port: fastify.port, servers: [fastify, sibling] }] : []),
      { key: 'childsend', name: 'Node child.send to a forked sibling', port: child.port, servers: [child, child.child] }
    ]
    for (const r of routes) results[r.key] = { rounds: [], samples: [], errors: 0, lastError: null }
    const fb = (args) => client.request('firstByte', { ...args, ...WS })
    await warmUp(client, routes, P.warmup, WS)
    rounds = await repeatWithin(ROUNDS, BUDGET_MS, async (round) => {
      for (const r of rotated(routes, round)) {
        const res = results[r.key]
        const lat = await fb({ port: r.port, concurrency: 1, count: P.latCount, seconds: P.latSeconds, samples: true })
        const c0 = await Promise.all(r.servers.map((s) => s.cpu()))
        const load = await fb({ port: r.port, concurrency: P.concurrency, count: P.rateCount, seconds: P.rateSeconds })
        const c1 = await Promise.all(r.servers.map((s) => s.cpu()))
        const cpu = r.servers.map((s, i) => (c1[i] - c0[i]) / load.n)
        res.samples.push(...lat.samples)
        res.errors += lat.errors + load.errors
        res.lastError = load.lastError ?? lat.lastError ?? res.lastError
        res.rounds[round] = { p50: lat.p50, rate: load.rate, webappCpu: cpu[0], siblingCpu: cpu[1] ?? NaN, serverCpu: cpu.reduce((a, b) => a + b, 0) }
      }
    })
  } finally {
    await stopAll(procs)
  }

  const m = (key, field) => median(results[key].rounds.map((x) => x[field]))
  const per = (a, b, f) => median(results[a].rounds.map((x, i) => f(x, results[b].rounds[i])))
  table(`Connect -> first ${WS.ws ? 'WebSocket message, Fastify + @fastify/websocket on every server' : 'byte'} (${rounds} round${rounds === 1 ? '' : 's'} of alternating phases; latency at concurrency 1, rate at ${P.concurrency} concurrent)`,
    ['route', 'p50 µs', 'p99 µs', 'conn/s', 'web app CPU µs/conn', 'sibling CPU µs/conn', 'server CPU µs/conn', 'errors'],
    routes.map((r) => {
      const s = Float64Array.from(results[r.key].samples).sort()
      return [r.name, fmt(percentile(s, 50), 0), fmt(percentile(s, 99), 0), fmt(m(r.key, 'rate'), 0),
        fmt(m(r.key, 'webappCpu'), 1), fmt(m(r.key, 'siblingCpu'), 1), fmt(m(r.key, 'serverCpu'), 1), String(results[r.key].errors)]
    }),
    ['p50/p99 over every latency sample of every round; conn/s and CPU: medians over rounds. Server CPU = web app + sibling, each from its own process.cpuUsage() over the rate phase ÷ connections answered.'])

  const rows = []
  // What bench/run.js charts (bench/lib/charts.js): the figures of the table below.
  const summary = { added: {} }
  for (const r of routes) {
    if (r.key === 'direct') continue
    const added = per(r.key, 'direct', (a, b) => a.p50 - b.p50)
    const rate = per(r.key, 'direct', (a, b) => a.rate / b.rate)
    const cpu = per(r.key, 'direct', (a, b) => a.serverCpu / b.serverCpu)
    const ours = r.key !== 'childsend'
    summary.added[r.key] = { name: r.name, p50: added, rate, cpu }
    const v = (x, ok) => !Number.isFinite(x) ? 'n/a' : ours ? verdict(ok) : (ok ? '(would meet)' : '(would miss)')
    rows.push([r.name, `${added >= 0 ? '+' : ''}${fmt(added, 0)} µs`, '≤ +60 µs', v(added, added <= 60),
      fmtRatio(rate), '≥ 0.85', v(rate, rate >= 0.85), fmtRatio(cpu), '≤ 1.5', v(cpu, cpu <= 1.5)])
  }
  table('Connect -> first byte: against direct, and targets (issue 7)',
    ['route', 'p50 added', 'target', '', 'conn/s ÷ direct', 'target', '', 'server CPU ÷ direct', 'target', ''],
    rows,
    ['Each figure is the median over rounds of the difference or ratio within the round. The child.send row is the alternative, for comparison (targets apply to fastify-handoff).'])

  if (args.json) {
    const slim = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { ...v, samples: v.samples.length }]))
    fs.writeFileSync(args.json, JSON.stringify({ bench: 'e2e', app: APP, rounds, P, results: slim, summary }, null, 2))
  }
  if (Object.values(results).some((r) => r.errors > 0 || r.rounds.length === 0)) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
