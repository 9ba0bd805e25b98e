'use strict'
// Issue 17, item 1: where the time of one connection's setup goes, stage by
// stage, on both sides of a handoff and of Node's child.send(msg, socket).
//
// The same routes as bench/e2e.js (a web app answering itself; node:http +
// Sender; Fastify + the plugin; child.send to a forked sibling), each process
// recording, per connection, when it passed each stage (bench/lib/stages.js:
// process.hrtime.bigint(), one monotonic clock for every process of the host,
// keyed by the client's port). fastify-handoff publishes its stages on a
// diagnostics channel (plugin/trace.ts) only while someone subscribes; the
// benchmark's own processes mark the rest (request parsed, handler ran, first
// byte written, and the child.send path's). Short phases alternate between
// the routes over the rounds, at concurrency 1 and then 100; each row is the
// median, over every connection of every round, of the time from one stage to
// the next for that connection.
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs, num, median, percentile, fmt, table, repeatWithin, tempDir } = require('./lib/common.js')
const { startUpgradeRoutes, stopAll, warmUp, rotated } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
// --app ws-hello: Fastify + @fastify/websocket on every server, timed to the first WebSocket message.
const APP = args.app ?? 'upgrade-hello'
if (APP !== 'upgrade-hello' && APP !== 'ws-hello') throw new Error(`--app: upgrade-hello or ws-hello, not ${APP}`)
const WS = APP === 'ws-hello' ? { ws: true } : {}
const ROUNDS = num(args.rounds, quick ? 1 : 5)
const BUDGET_MS = num(args.budget, 90) * 1000
const P = quick
  ? { warmup: 30, c1: { count: 30, seconds: 0.3 }, c100: { count: 200, seconds: 0.3, concurrency: 20 } }
  : { warmup: 500, c1: { count: 300, seconds: 0.8 }, c100: { count: 3000, seconds: 1.2, concurrency: 100 } }

// [label, from, to, paths]: c = client, w = web app, s = sibling. paths: which routes have both ends.
const OURS = ['handoff', 'fastify']
const CHILD = ['childsend']
const ALL = ['direct', ...OURS, ...CHILD]
const ROWS = [
  ['client connect() → web app accepted', 'c:client-start', 'w:accept', ALL],
  ['accepted → request parsed (\'upgrade\')', 'w:accept', 'w:parsed', ALL],
  ['parsed → hooks done: Sender called (child.send: called)', 'w:parsed', 'w:start', [...OURS, ...CHILD]],
  ['detached', 'w:start', 'w:detached', OURS],
  ['HANDOFF frame encoded', 'w:detached', 'w:encoded', OURS],
  ['sendmsg returned: frame + fd in the kernel', 'w:encoded', 'w:sent', OURS],
  ['sibling woken (its poll event)', 'w:sent', 's:woken', OURS],
  ['frame cut and decoded', 's:woken', 's:decoded', OURS],
  ['net.Socket rebuilt on the fd (Node checks its kind)', 's:decoded', 's:rebuilt', OURS],
  ['checks (peer address, target, capacity, deadline)', 's:rebuilt', 's:checked', OURS],
  ['ACCEPT written (in the kernel)', 's:checked', 's:answered', OURS],
  ['ACCEPT written → parser fed (\'connection\' emitted, bytes given back)', 's:answered', 's:fed', OURS],
  ['child.send: IPC message + handle → socket in the sibling', 'w:start', 's:rebuilt', CHILD],
  ['child.send: \'connection\' emitted, parser fed', 's:rebuilt', 's:fed', CHILD],
  ['parser fed → handler ran (\'upgrade\')', 's:fed', 's:handler', [...OURS, ...CHILD]],
  ['request parsed → handler ran (direct)', 'w:parsed', 'w:handler', ['direct']],
  ['handler → first byte written', 's:handler', 's:first-byte', [...OURS, ...CHILD]],
  ['handler → first byte written (direct)', 'w:handler', 'w:first-byte', ['direct']],
  ['first byte written → client read it', 's:first-byte', 'c:client-first-byte', [...OURS, ...CHILD]],
  ['first byte written → client read it (direct)', 'w:first-byte', 'c:client-first-byte', ['direct']],
  ['**connect → first byte (client)**', 'c:client-start', 'c:client-first-byte', ALL],
  ['sums: Sender / child.send called → socket in the sibling', 'w:start', 's:rebuilt', [...OURS, ...CHILD]],
  ['sums: socket in the sibling → first byte written', 's:rebuilt', 's:first-byte', [...OURS, ...CHILD]],
  ['after: ACCEPT written → web app woken', 's:answered', 'w:ack-woken', OURS],
  ['after: web app woken → verdict in the handoff flow', 'w:ack-woken', 'w:verdict', OURS],
  ['after: verdict → web app closed its copy', 'w:verdict', 'w:released', OURS],
  ['after: child.send called → its callback', 'w:start', 'w:sent', CHILD]
]

/** Per port: { 'w:accept': t, ... } (the first time each stage was seen). */
function join (byProcess) {
  const conns = new Map()
  for (const [tag, rec] of byProcess) {
    for (let i = 0; i < rec.ports.length; i++) {
      let c = conns.get(rec.ports[i])
      if (c === undefined) { c = {}; conns.set(rec.ports[i], c) }
      const key = `${tag}:${rec.stages[i]}`
      if (c[key] === undefined) c[key] = rec.times[i]
    }
  }
  return conns
}

async function main () {
  const sockPath = path.join(tempDir(), 'sibling.sock')
  const procs = []
  const routes = []
  // results[route][conc] = { deltas: Map(rowIndex -> number[] µs), totals: per-round medians }
  const results = {}
  let rounds = 0
  try {
    const { sibling, direct, handoff, fastify, child, client } = await startUpgradeRoutes(sockPath, procs, { stages: true, app: APP })
    const take = (peer, cmd = 'stages') => peer.request(cmd)
    routes.push(
      { key: 'direct', name: 'direct', port: direct.port, records: async () => [['w', await take(direct.peer)]] },
      { key: 'handoff', name: 'node:http + Sender', port: handoff.port, records: async () => [['w', await take(handoff.peer)], ['s', await take(sibling.peer)]] },
      ...(fastify
        ? [{ key: 'fastify', name: 'Fastify plugin', port: fastify.port, records: async () => [['w', await take(fastify.peer)], ['s', await take(sibling.peer)]] }]
        : []),
      { key: 'childsend', name: 'child.send', port: child.port, records: async () => [['w', await take(child.peer)], ['s', await take(child.peer, 'siblingStages')]] }
    )
    for (const r of routes) results[r.key] = { c1: { deltas: new Map(), totals: [], n: 0 }, c100: { deltas: new Map(), totals: [], n: 0, rates: [] }, errors: 0 }
    const fb = (a) => client.request('firstByte', { ...a, ...WS })
    const clearAll = async () => {
      await take(client.peer)
      for (const r of routes) await r.records()
    }
    await warmUp(client, routes, P.warmup, WS)
    rounds = await repeatWithin(ROUNDS, BUDGET_MS, async (round) => {
      for (const r of rotated(routes, round)) {
        for (const [conc, p] of [['c1', { ...P.c1, concurrency: 1 }], ['c100', P.c100]]) {
          await clearAll()
          const res = await fb({ port: r.port, concurrency: p.concurrency, count: p.count, seconds: p.seconds, stages: true })
          const recs = [['c', await take(client.peer)], ...await r.records()]
          const conns = join(recs)
          const out = results[r.key][conc]
          results[r.key].errors += res.errors
          if (out.rates) out.rates.push(res.rate)
          const totals = []
          for (const c of conns.values()) {
            if (c['c:client-first-byte'] === undefined) continue
            out.n++
            ROWS.forEach(([, from, to, paths], i) => {
              if (!paths.includes(r.key) || c[from] === undefined || c[to] === undefined) return
              let d = out.deltas.get(i)
              if (d === undefined) { d = []; out.deltas.set(i, d) }
              d.push((c[to] - c[from]) / 1000)
            })
            totals.push((c['c:client-first-byte'] - c['c:client-start']) / 1000)
          }
          out.totals.push(median(totals))
        }
      }
    })
  } finally {
    await stopAll(procs)
  }

  const cols = []
  for (const conc of ['c1', 'c100']) for (const r of routes) cols.push({ r, conc })
  const headers = ['stage (median µs per connection)', ...cols.map(({ r, conc }) => `${r.name}${conc === 'c1' ? ' @1' : ' @100'}`)]
  const rows = ROWS.map(([label, , , paths], i) => [label, ...cols.map(({ r, conc }) => {
    if (!paths.includes(r.key)) return ''
    const d = results[r.key][conc].deltas.get(i)
    return d === undefined ? 'n/a' : fmt(median(d), 1)
  })])
  rows.push(['p99 connect → first byte', ...cols.map(({ r, conc }) => {
    const d = results[r.key][conc].deltas.get(ROWS.findIndex((x) => x[1] === 'c:client-start' && x[2] === 'c:client-first-byte'))
    return d === undefined ? 'n/a' : fmt(percentile(Float64Array.from(d).sort(), 99), 0)
  })])
  rows.push(['round medians of the total, min–max (spread)', ...cols.map(({ r, conc }) => {
    const t = results[r.key][conc].totals.filter(Number.isFinite)
    return t.length === 0 ? 'n/a' : `${fmt(Math.min(...t), 0)}–${fmt(Math.max(...t), 0)}`
  })])
  rows.push(['connections measured', ...cols.map(({ r, conc }) => String(results[r.key][conc].n))])
  rows.push(['conn/s (@100: rate phase with tracing on)', ...cols.map(({ r, conc }) => conc === 'c100' ? fmt(median(results[r.key].c100.rates), 0) : '')])
  table(`Connection setup, stage by stage${WS.ws ? ' (Fastify + @fastify/websocket on every server; first byte: the first WebSocket message)' : ''} (${rounds} round${rounds === 1 ? '' : 's'} of alternating phases; @1: concurrency 1, @100: concurrency ${P.c100.concurrency})`,
    headers, rows,
    ['Each row: the median over every connection of the time from one stage to the next (clocks: process.hrtime.bigint() in each process, one monotonic clock). ' +
      'Medians of stages do not add up to the median total exactly. "sums" and "after" rows span several stages; "after" happens once the first byte is on its way.'])

  if (args.json) {
    const slim = {}
    for (const [k, v] of Object.entries(results)) {
      slim[k] = { errors: v.errors }
      for (const conc of ['c1', 'c100']) {
        slim[k][conc] = { n: v[conc].n, totals: v[conc].totals, rates: v[conc].rates, rows: Object.fromEntries([...v[conc].deltas].map(([i, d]) => [ROWS[i][0], median(d)])) }
      }
    }
    fs.writeFileSync(args.json, JSON.stringify({ bench: 'stages', app: APP, rounds, P, results: slim }, null, 2))
  }
  if (Object.values(results).some((r) => r.errors > 0)) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
