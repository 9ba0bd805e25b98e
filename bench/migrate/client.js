'use strict'
// The clients of bench/migrate.js: N WebSockets that each send a numbered
// message every `interval` ms and time its echo. Driven over IPC:
//   { cmd: 'open', port, connections, deflate } → { reply: 'open', opened }
//   { cmd: 'run', ms, interval } → { reply: 'run', echoes, closes, errors, latencies: { p50, p99, max },
//       perConnectionMax: number[] (each connection's worst echo latency in the window, ms), echoTimes,
//       ports, maxSentAt (hrtime ns of the worst echo's message) }
//   { cmd: 'close' }
const WebSocket = require('ws')
const { percentile } = require('../lib/common.js')

const conns = []
const reply = (msg) => process.send(msg)

async function open (port, n, deflate) {
  let next = 0
  await Promise.all(Array.from({ length: 100 }, async () => {
    while (next < n) {
      next++
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: deflate ? { threshold: 0 } : false })
      const c = { ws, sent: 0, received: 0, pending: new Map(), max: 0, latencies: null, errors: 0, closed: false }
      c.times = null
      c.port = 0
      ws.once('upgrade', (res) => { c.port = res.socket.localPort })
      ws.on('message', (data) => {
        const text = data.toString()
        const n = Number(text.slice(0, text.indexOf('@')))
        if (n !== c.received + 1) c.errors++
        c.received = n
        const at = c.pending.get(n)
        c.pending.delete(n)
        if (at !== undefined && c.latencies !== null) {
          const ms = Number(process.hrtime.bigint() - at) / 1e6
          c.latencies.push(ms)
          c.times.push(Date.now())
          if (ms > c.max) { c.max = ms; c.maxSentAt = Number(at) }
        }
      })
      ws.on('close', () => { c.closed = true })
      ws.on('error', () => {})
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
      conns.push(c)
    }
  }))
  return conns.length
}

async function run (ms, interval) {
  for (const c of conns) { c.latencies = []; c.times = []; c.max = 0; c.maxSentAt = 0 }
  const timers = []
  const start = Date.now()
  conns.forEach((c, i) => {
    const send = () => {
      if (c.closed || Date.now() - start >= ms) return
      c.sent++
      c.pending.set(c.sent, process.hrtime.bigint())
      c.ws.send(`${c.sent} ping`)
    }
    timers.push(setTimeout(() => { send(); timers.push(setInterval(send, interval)) }, Math.floor(i * interval / conns.length)))
  })
  await new Promise((resolve) => setTimeout(resolve, ms))
  for (const t of timers) clearTimeout(t)
  // Let the last echoes come back (bounded).
  const deadline = Date.now() + 5000
  while (conns.some((c) => !c.closed && c.received < c.sent) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  const all = conns.flatMap((c) => c.latencies)
  const result = {
    echoes: all.length,
    closes: conns.filter((c) => c.closed).length,
    errors: conns.reduce((n, c) => n + c.errors, 0) + conns.filter((c) => c.received !== c.sent).length,
    latencies: { p50: percentile(all, 50), p99: percentile(all, 99), max: Math.max(0, ...conns.map((c) => c.max)) },
    perConnectionMax: conns.map((c) => c.max),
    /** Each connection's local port (the servers' remotePort) and when (hrtime, ns) it sent the message of its worst echo. */
    ports: conns.map((c) => c.port),
    maxSentAt: conns.map((c) => c.maxSentAt),
    /** When each echo arrived (ms since the epoch: the driver counts those inside the move). */
    echoTimes: conns.flatMap((c) => c.times),
    /** Each echo's latency (ms), in the order of echoTimes. */
    echoLatencies: all
  }
  for (const c of conns) { c.latencies = null; c.times = null }
  return result
}

process.on('message', async (msg) => {
  if (msg.cmd === 'open') reply({ reply: 'open', opened: await open(msg.port, msg.connections, msg.deflate) })
  if (msg.cmd === 'run') reply({ reply: 'run', ...(await run(msg.ms, msg.interval)) })
  if (msg.cmd === 'close') { for (const c of conns) c.ws.terminate(); process.disconnect() }
})
