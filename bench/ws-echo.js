'use strict'
// Issue 7, item 3: after the handoff.
//
// WebSocket echo (Fastify + @fastify/websocket in the sibling), 50 connections,
// each sending a message and waiting for its echo, again and again; 64 B and
// 16 KiB messages. Side by side, interleaved within each repetition (medians of 3):
//   direct   the client connects to the sibling's own port
//   handoff  the client connects to the web app, which hands each upgrade to
//            the sibling (node:http + Sender -> createReceiver); then the web
//            app is out of the path
//   fastify  the same through the Fastify plugin (when dist/ exports it)
//   proxy    the web app is Fastify + @fastify/http-proxy (websocket: true)
//            in front of the sibling's port: every message goes through it
// Messages/s (echoes completed), echo p50/p99, and the CPU µs per message of
// the web app and the sibling.
const fs = require('node:fs')
const { parseArgs, num, median, fmt, fmtRatio, table, verdict, fastifyPlugin, repeatWithin, runsLabel } = require('./lib/common.js')
const { startScenario } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const reps = num(args.reps, quick ? 1 : 3)
// Repetitions stop early rather than run past this (the runner kills a script at 120 s).
const BUDGET_MS = num(args.budget, 95) * 1000
const CONNECTIONS = num(args.connections, quick ? 5 : 50)
const SIZES = [64, 16 * 1024]
const P = quick
  ? { warmup: 0.05, seconds: 0.2, max: 2000 }
  : { warmup: 0.3, seconds: 1.5, max: 2000000 }

async function measure (route) {
  const s = await startScenario({ app: 'ws-echo', route })
  try {
    const open = await s.client('wsOpen', { port: s.port, path: '/echo', connections: CONNECTIONS, parallel: 10 })
    if (open.opened !== CONNECTIONS) throw new Error(`opened ${open.opened} of ${CONNECTIONS} WebSockets: ${open.lastError}`)
    const out = {}
    for (const size of SIZES) {
      await s.client('wsEcho', { size, seconds: P.warmup, max: P.max })
      const c0 = await s.cpu()
      const r = await s.client('wsEcho', { size, seconds: P.seconds, max: P.max })
      const c1 = await s.cpu()
      out[size] = {
        rate: r.rate,
        p50: r.p50,
        p99: r.p99,
        messages: r.messages,
        webappCpu: (c1.webapp - c0.webapp) / r.messages,
        siblingCpu: (c1.sibling - c0.sibling) / r.messages
      }
      out[size].serverCpu = (Number.isFinite(out[size].webappCpu) ? out[size].webappCpu : 0) + out[size].siblingCpu
    }
    await s.client('wsClose', {})
    return out
  } finally {
    await s.stop()
  }
}

async function main () {
  const routes = [
    { key: 'direct', route: 'direct-sibling', name: 'direct to the sibling' },
    { key: 'handoff', route: 'handoff', name: 'handed off (node:http + Sender)' },
    ...(fastifyPlugin() !== null
      ? [{ key: 'fastify', route: 'fastify', name: 'handed off (Fastify plugin)' }]
      : []),
    { key: 'proxy', route: 'proxy', name: '@fastify/http-proxy' }
  ]
  const results = Object.fromEntries(routes.map((r) => [r.key, []]))
  const errors = {}
  const ran = await repeatWithin(reps, BUDGET_MS, async () => {
    for (const r of routes) {
      try {
        results[r.key].push(await measure(r.route))
      } catch (err) {
        errors[r.key] = err.message.split('\n')[0]
        process.stderr.write(`ws-echo: ${r.name}: ${err.stack}\n`)
      }
    }
  })

  const m = (key, size, field) => median(results[key].map((x) => x[size][field]))
  const per = (a, b, size, f) => {
    const n = Math.min(results[a].length, results[b].length)
    const v = []
    for (let i = 0; i < n; i++) v.push(f(results[a][i][size], results[b][i][size]))
    return median(v)
  }
  const rows = []
  for (const size of SIZES) {
    for (const r of routes) {
      if (results[r.key].length === 0) { rows.push([`${size} B`, r.name, 'failed: ' + errors[r.key], '', '', '', '', '']); continue }
      rows.push([size >= 1024 ? `${size / 1024} KiB` : `${size} B`, r.name, fmt(m(r.key, size, 'rate'), 0),
        fmt(m(r.key, size, 'p50'), 0), fmt(m(r.key, size, 'p99'), 0),
        r.key === 'direct' ? '(none)' : fmt(m(r.key, size, 'webappCpu'), 2),
        fmt(m(r.key, size, 'siblingCpu'), 1), fmt(m(r.key, size, 'serverCpu'), 1)])
    }
  }
  table(`WebSocket echo after the handoff (${CONNECTIONS} connections, closed loop; ${runsLabel(ran, reps)})`,
    ['message', 'route', 'messages/s', 'echo p50 µs', 'echo p99 µs', 'web app CPU µs/msg', 'sibling CPU µs/msg', 'server CPU µs/msg'],
    rows,
    ['CPU per message: each process\'s own process.cpuUsage() delta over the measured phase ÷ echoes completed. The client runs in a process of its own.'])

  const trows = []
  for (const size of SIZES) {
    for (const r of routes) {
      if (r.key !== 'handoff' && r.key !== 'fastify') continue
      const vsDirect = per(r.key, 'direct', size, (a, b) => a.rate / b.rate)
      const vsProxy = per(r.key, 'proxy', size, (a, b) => a.rate / b.rate)
      const webCpu = m(r.key, size, 'webappCpu')
      const label = size >= 1024 ? `${size / 1024} KiB` : `${size} B`
      trows.push([label, r.name, fmtRatio(vsDirect), '≥ 0.95', verdict(Number.isFinite(vsDirect) ? vsDirect >= 0.95 : null),
        fmtRatio(vsProxy), '≥ 2', verdict(Number.isFinite(vsProxy) ? vsProxy >= 2 : null), fmt(webCpu, 3), '0'])
    }
    const proxyVsDirect = per('proxy', 'direct', size, (a, b) => a.rate / b.rate)
    const proxyCpu = per('proxy', 'direct', size, (a, b) => a.serverCpu / b.serverCpu)
    trows.push([size >= 1024 ? `${size / 1024} KiB` : `${size} B`, '(proxy ÷ direct, for reference)', fmtRatio(proxyVsDirect), '', '', '', '', '', `server CPU × ${fmt(proxyCpu, 2)}`, ''])
  }
  table('After the handoff: ratios and targets (issue 7)',
    ['message', 'route', 'messages/s ÷ direct', 'target', '', 'messages/s ÷ proxy', 'target', '', 'web app CPU µs/msg', 'target'],
    trows,
    ['The web app\'s CPU after the handoff should be zero: what is left is its idle loop (timers, IPC) spread over the messages.'])

  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ bench: 'ws-echo', reps, P, CONNECTIONS, results, errors }, null, 2))
  if (Object.keys(errors).length > 0) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
