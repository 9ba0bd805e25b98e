'use strict'
// Issue 7, item 5: one sibling holding 10,000 handed-off WebSockets.
//
// Web app (node:http + Sender) -> sibling (createReceiver + Fastify +
// @fastify/websocket echo). Every process raises its descriptor limit (soft
// up to hard) through the shell that starts it. The client opens WebSockets
// through the web app (each one a handoff) and keeps them:
//   1. handoff rate with none held: 1,000 WebSockets opened (100 at a time), then closed
//   2. 10,000 WebSockets opened and held: sibling memory per connection
//   3. handoff rate while the sibling holds them: 1,000 more, then closed
//   4. every held WebSocket echoes one 64 B message (they are all alive)
const fs = require('node:fs')
const { parseArgs, num, fmt, fmtBytes, table, sleep } = require('./lib/common.js')
const { startScenario } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const HOLD = num(args.hold, quick ? 200 : 10000)
const PROBE = num(args.probe, quick ? 50 : 1000)
const PARALLEL = 100

async function main () {
  const s = await startScenario({ app: 'ws-echo', route: 'handoff' }, { fdLimit: 'max' })
  try {
    // warm-up: JIT and pools, not counted (twice the probe: the first handoffs run cold code)
    for (let i = 0; i < 2; i++) {
      await s.client('wsOpen', { port: s.port, path: '/echo', connections: PROBE, parallel: PARALLEL, seconds: 8 })
      await s.client('wsClose', {})
    }
    await sleep(quick ? 100 : 300)
    const base = await s.stats()
    const probe1 = await s.client('wsOpen', { port: s.port, path: '/echo', connections: PROBE, parallel: PARALLEL, seconds: 10 })
    await s.client('wsClose', {})
    await sleep(quick ? 100 : 300)
    const before = await s.stats()
    const hold = await s.client('wsOpen', { port: s.port, path: '/echo', connections: HOLD, parallel: PARALLEL, seconds: 55 }, 120000)
    await sleep(quick ? 100 : 500)
    const held = await s.stats()
    const probe2 = await s.client('wsOpen', { port: s.port, path: '/echo', connections: PROBE, parallel: PARALLEL, seconds: 10 })
    await sleep(quick ? 100 : 300)
    const during = await s.stats()
    const echo = await s.client('wsEcho', { size: 64, seconds: 15, max: hold.opened + probe2.opened }, 60000)
    await s.client('wsClose', {})
    await sleep(quick ? 100 : 500)
    const after = await s.stats()

    const perConn = (held.sibling.rss - before.sibling.rss) / Math.max(1, hold.opened)
    table(`Scale: one sibling holding ${fmt(hold.opened, 0)} handed-off WebSockets`,
      ['step', 'WebSockets opened', 'opened/s (handoffs/s)', 'open p50 µs', 'open p99 µs', 'errors', 'sibling live', 'sibling RSS', 'sibling fds', 'web app RSS', 'web app fds'],
      [
        ['before (after warm-up)', '', '', '', '', '', String(base.sibling.live), fmtBytes(base.sibling.rss), String(base.sibling.fds), fmtBytes(base.webapp.rss), String(base.webapp.fds)],
        [`open ${PROBE}, none held, close`, fmt(probe1.opened, 0), fmt(probe1.rate, 0), fmt(probe1.p50, 0), fmt(probe1.p99, 0), String(probe1.errors), String(before.sibling.live), fmtBytes(before.sibling.rss), String(before.sibling.fds), fmtBytes(before.webapp.rss), String(before.webapp.fds)],
        [`open ${HOLD} and hold`, fmt(hold.opened, 0), fmt(hold.rate, 0), fmt(hold.p50, 0), fmt(hold.p99, 0), String(hold.errors), String(held.sibling.live), fmtBytes(held.sibling.rss), String(held.sibling.fds), fmtBytes(held.webapp.rss), String(held.webapp.fds)],
        [`open ${PROBE} more while holding`, fmt(probe2.opened, 0), fmt(probe2.rate, 0), fmt(probe2.p50, 0), fmt(probe2.p99, 0), String(probe2.errors), String(during.sibling.live), fmtBytes(during.sibling.rss), String(during.sibling.fds), fmtBytes(during.webapp.rss), String(during.webapp.fds)],
        [`one echo on each, all at once (${fmt(echo.connections, 0)})`, '', '', '', '', String((hold.opened + probe2.opened) - echo.messages), '', '', '', '', ''],
        ['all closed', '', '', '', '', '', String(after.sibling.live), fmtBytes(after.sibling.rss), String(after.sibling.fds), fmtBytes(after.webapp.rss), String(after.webapp.fds)]
      ],
      [`Sibling memory per held connection: ${fmtBytes(perConn)} (RSS growth over ${fmt(hold.opened, 0)} WebSockets, Fastify + @fastify/websocket + ws). ` +
        `Handoff rate while holding ÷ with none held: × ${(probe2.rate / probe1.rate).toFixed(2)}. ` +
        `Echo burst (every held WebSocket sends at once): ${fmt(echo.messages, 0)} of ${fmt(hold.opened + probe2.opened, 0)} answered in ${fmt(echo.seconds * 1000, 0)} ms.` +
        (hold.lastError ? ` Last open error: ${hold.lastError}.` : '') +
        (hold.opened < HOLD ? ` Only ${fmt(hold.opened, 0)} of ${fmt(HOLD, 0)} opened within the time bound (55 s).` : '')])
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ bench: 'scale', HOLD, PROBE, base, before, held, during, after, probe1, hold, probe2, echo, perConn }, null, 2))
    if (probe1.errors + probe2.errors + hold.errors > 0 || echo.messages < hold.opened + probe2.opened) process.exitCode = 1
  } finally {
    await s.stop()
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
