'use strict'
// Issue 7, item 3: after the handoff.
//
// One sibling (Fastify + @fastify/websocket, GET /echo echoes every message)
// listens on its own port AND receives handoffs. The client holds 50
// WebSockets per route, all open at once:
//   direct   connected to the sibling's own port
//   direct2  the same, a second set: a noise control (two identical routes)
//   handoff  connected through a web app (node:http + Sender) that handed each
//            upgrade to the sibling; the web app is out of the path since
//   fastify  the same through a Fastify web app with the plugin (when built)
//   proxy    through a web app that is Fastify + @fastify/http-proxy
//            (websocket: true) in front of the sibling's port: every message
//            crosses it
// Short phases alternate between the routes, round after round (the order
// rotates): each connection of the route sends a message and waits for its
// echo, again and again. 64 B and 16 KiB messages. Messages/s (echoes
// completed), echo p50/p99 (over all rounds), CPU µs per message of the
// sibling and of the route's web app, from each process's own process.cpuUsage().
const fs = require('node:fs')
const path = require('node:path')
const {
  parseArgs, num, median, percentile, fmt, fmtRatio, table, verdict, fastifyPlugin, repeatWithin, tempDir
} = require('./lib/common.js')
const { startSibling, startWebapp, startClient, stopAll, rotated } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const ROUNDS = num(args.rounds, quick ? 1 : 9)
const BUDGET_MS = num(args.budget, 75) * 1000
const CONNECTIONS = num(args.connections, quick ? 5 : 50)
const SIZES = [64, 16 * 1024]
const P = quick ? { warmup: 0.05, seconds: 0.15, max: 2000 } : { warmup: 0.3, seconds: 0.6, max: 1000000 }
const OPEN_BATCH = 10
const label = (size) => size >= 1024 ? `${size / 1024} KiB` : `${size} B`

async function main () {
  const sockPath = path.join(tempDir(), 'sibling.sock')
  const procs = []
  const results = {}
  const opens = {} // route -> [per pass: { p50, p99 } of new WebSocket -> 'open', µs]
  let routes
  let rounds = 0
  try {
    const sibling = await startSibling({ app: 'ws-echo', via: ['receiver', 'tcp'], path: sockPath })
    procs.push(sibling)
    const web = async (mode) => {
      const w = await startWebapp({ mode, app: 'ws-echo', path: sockPath, upstreamPort: sibling.port })
      procs.unshift(w)
      return w
    }
    const handoff = await web('handoff')
    const fastify = fastifyPlugin() !== null ? await web('fastify') : null
    const proxy = await web('proxy')
    const client = await startClient()
    procs.unshift(client)
    routes = [
      { key: 'direct', name: 'direct to the sibling', port: sibling.port, webapp: null },
      // The same route again: how far two identical routes drift apart in one run.
      { key: 'direct2', name: 'direct, a second set (noise control)', port: sibling.port, webapp: null },
      { key: 'handoff', name: 'handed off (node:http + Sender)', port: handoff.port, webapp: handoff },
      ...(fastify ? [{ key: 'fastify', name: 'handed off (Fastify plugin)', port: fastify.port, webapp: fastify }] : []),
      { key: 'proxy', name: '@fastify/http-proxy', port: proxy.port, webapp: proxy }
    ]
    for (const r of routes) {
      results[r.key] = Object.fromEntries(SIZES.map((size) => [size, { rounds: [], samples: [] }]))
      opens[r.key] = []
    }
    // Opened in passes of 10, one at a time (latency at concurrency 1, as in
    // bench/e2e.js), the routes taking turns (the order rotating), so that the
    // open times compare like the echo phases do.
    for (let pass = 0, left = CONNECTIONS; left > 0; pass++, left -= OPEN_BATCH) {
      for (const r of rotated(routes, pass)) {
        const n = Math.min(OPEN_BATCH, left)
        const open = await client.request('wsOpen', { port: r.port, path: '/echo', connections: n, parallel: 1, seconds: 20, set: r.key })
        if (open.opened !== n) throw new Error(`${r.name}: opened ${open.opened} of ${n} WebSockets: ${open.lastError}`)
        opens[r.key].push({ p50: open.p50, p99: open.p99 })
      }
    }
    for (const size of SIZES) {
      for (const r of routes) await client.request('wsEcho', { size, seconds: P.warmup, max: P.max, set: r.key })
    }
    const webapps = routes.filter((r) => r.webapp !== null).map((r) => r.webapp)
    rounds = await repeatWithin(ROUNDS, BUDGET_MS, async (round) => {
      for (const size of SIZES) {
        const order = routes.map((_, i) => routes[(i + round) % routes.length])
        for (const r of order) {
          const c0 = await Promise.all([sibling, ...webapps].map((s) => s.cpu()))
          const e = await client.request('wsEcho', { size, seconds: P.seconds, max: P.max, set: r.key, samples: true })
          const c1 = await Promise.all([sibling, ...webapps].map((s) => s.cpu()))
          const d = c1.map((c, i) => c - c0[i])
          const res = results[r.key][size]
          const web = r.webapp === null ? NaN : d[1 + webapps.indexOf(r.webapp)] / e.messages
          res.samples.push(...e.samples)
          res.rounds[round] = {
            rate: e.rate,
            siblingCpu: d[0] / e.messages,
            webappCpu: web,
            serverCpu: d[0] / e.messages + (Number.isFinite(web) ? web : 0),
            // what every web app spent meanwhile (the handoff ones are idle by then)
            otherWebCpuMs: d.slice(1).reduce((a, b) => a + b, 0) / 1000
          }
        }
      }
    })
    await client.request('wsClose', {})
  } finally {
    await stopAll(procs)
  }

  const m = (key, size, field) => median(results[key][size].rounds.map((x) => x[field]))
  const per = (a, b, size, f) => median(results[a][size].rounds.map((x, i) => f(x, results[b][size].rounds[i])))
  const rows = []
  for (const size of SIZES) {
    for (const r of routes) {
      const s = Float64Array.from(results[r.key][size].samples).sort()
      rows.push([label(size), r.name, fmt(m(r.key, size, 'rate'), 0), fmt(percentile(s, 50), 0), fmt(percentile(s, 99), 0),
        r.webapp === null ? '(none)' : fmt(m(r.key, size, 'webappCpu'), 2),
        fmt(m(r.key, size, 'siblingCpu'), 1), fmt(m(r.key, size, 'serverCpu'), 1)])
    }
  }
  table(`WebSocket echo after the handoff (${CONNECTIONS} connections per route, closed loop; ${rounds} round${rounds === 1 ? '' : 's'} of alternating ${P.seconds} s phases)`,
    ['message', 'route', 'messages/s', 'echo p50 µs', 'echo p99 µs', 'web app CPU µs/msg', 'sibling CPU µs/msg', 'server CPU µs/msg'],
    rows,
    ['One sibling process serves every route at once. messages/s and CPU: medians over rounds; p50/p99 over every echo of every round. CPU per message: each process\'s own process.cpuUsage() delta over the phase ÷ echoes completed.'])

  const trows = []
  for (const size of SIZES) {
    for (const r of routes) {
      if (r.key !== 'handoff' && r.key !== 'fastify') continue
      const vsDirect = per(r.key, 'direct', size, (a, b) => a.rate / b.rate)
      const vsProxy = per(r.key, 'proxy', size, (a, b) => a.rate / b.rate)
      const webCpu = m(r.key, size, 'webappCpu')
      trows.push([label(size), r.name, fmtRatio(vsDirect), '≥ 0.95', verdict(Number.isFinite(vsDirect) ? vsDirect >= 0.95 : null),
        fmtRatio(vsProxy), '≥ 2', verdict(Number.isFinite(vsProxy) ? vsProxy >= 2 : null), fmt(webCpu, 3), '0'])
    }
    const controlVsDirect = per('direct2', 'direct', size, (a, b) => a.rate / b.rate)
    trows.push([label(size), '(direct, second set ÷ direct: noise)', fmtRatio(controlVsDirect), '', '', '', '', '', '', ''])
    const proxyVsDirect = per('proxy', 'direct', size, (a, b) => a.rate / b.rate)
    const proxyCpu = per('proxy', 'direct', size, (a, b) => a.serverCpu / b.serverCpu)
    trows.push([label(size), '(proxy ÷ direct, for reference)', fmtRatio(proxyVsDirect), '', '', '', '', '', `server CPU × ${fmt(proxyCpu, 2)}`, ''])
  }
  table('After the handoff: ratios and targets (issue 7)',
    ['message', 'route', 'messages/s ÷ direct', 'target', '', 'messages/s ÷ proxy', 'target', '', 'web app CPU µs/msg', 'target'],
    trows,
    ['Ratios: median over rounds of the ratio within the round. The noise row compares two identical sets of direct connections: how far apart two routes that do the same thing land in this run. What a handoff web app still spends is its idle loop and the IPC of the measurement itself, spread over the messages.'])

  // The opening of the WebSockets, before any echo: the one connection-setup
  // figure that includes the proxy (bench/e2e.js's upgrade is not a WebSocket
  // handshake, which @fastify/http-proxy needs). The first pass warms every
  // route up and is left out when there are more.
  const counted = (key) => opens[key].length > 1 ? opens[key].slice(1) : opens[key]
  const openP50 = (key) => median(counted(key).map((x) => x.p50))
  const openAdded = (key) => median(counted(key).map((x, i) => x.p50 - counted('direct')[i].p50))
  table(`WebSocket open, before the echo (new WebSocket -> 'open', one at a time; passes of ${OPEN_BATCH}, the routes taking turns, ${opens.direct.length} pass${opens.direct.length === 1 ? '' : 'es'})`,
    ['route', 'open p50 µs', 'p50 added over direct'],
    routes.map((r) => {
      const added = openAdded(r.key)
      return [r.name, fmt(openP50(r.key), 0), r.key === 'direct' ? '' : `${added >= 0 ? '+' : ''}${fmt(added, 0)} µs`]
    }),
    ['Medians over the passes (the first left out: a warm-up) of each pass\'s p50, and of its difference with direct in the same pass.'])

  // What bench/run.js charts (bench/lib/charts.js): the figures of the tables above.
  const summary = {
    open: Object.fromEntries(routes.map((r) => [r.key, { name: r.name, p50: openP50(r.key), added: openAdded(r.key) }])),
    echo: Object.fromEntries(SIZES.map((size) => [label(size), Object.fromEntries(routes.map((r) => [r.key, {
      name: r.name, rate: m(r.key, size, 'rate'), vsDirect: per(r.key, 'direct', size, (a, b) => a.rate / b.rate)
    }]))]))
  }

  if (args.json) {
    const slim = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([s, x]) => [s, { ...x, samples: x.samples.length }]))]))
    fs.writeFileSync(args.json, JSON.stringify({ bench: 'ws-echo', rounds, P, CONNECTIONS, results: slim, summary }, null, 2))
  }
  if (rounds === 0) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
