'use strict'
// The load generator, a process of its own, driven over IPC:
//   firstByte { port, concurrency, count, seconds, ws }: connect, send an upgrade
//       request, time connect() -> first byte of the answer (ws: a WebSocket
//       handshake, timed to the first whole message after the 101), close; `concurrency`
//       connections at a time, bounded by count and time
//   wsOpen { port, path, connections, seconds }: opens WebSockets (bounded by count and time) and keeps them
//   wsEcho { size, seconds, max }: every open WebSocket sends a message and
//       waits for its echo, again and again (closed loop), bounded by count and time
//   wsClose: closes them all (every `set`: WebSockets are kept in named sets)
const net = require('node:net')
const { serveControl, nowNs, percentile } = require('../lib/common.js')
const { stagesRecorder, now } = require('../lib/stages.js')

const REQUEST = Buffer.from('GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: bench\r\n\r\n')
// A WebSocket opening handshake (RFC 6455 §1.3's sample key): the ws-hello app
// answers 101 and then its first message, which is what `ws: true` times.
const WS_REQUEST = Buffer.from('GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')

/**
 * For `ws: true`: whether `received` holds the 101's head and a whole first
 * frame after it (an unmasked server frame of under 126 bytes: 2 bytes of
 * header, then its payload).
 */
function firstMessageIn (received) {
  const end = received.indexOf(HEAD_END)
  if (end === -1) return false
  const frame = end + HEAD_END.length
  return received.length >= frame + 2 && received.length >= frame + 2 + (received[frame + 1] & 0x7f)
}
const CONNECT_TIMEOUT_MS = 5000

function firstByte ({ port, concurrency, count, seconds, samples = false, stages = false, ws = false }) {
  // bench/stages.js: when the connection began, was connected and got its first byte, by its local port.
  const rec = stages ? stagesRecorder() : null
  return new Promise((resolve) => {
    const lat = []
    const deadline = nowNs() + BigInt(Math.round(seconds * 1e9))
    let started = 0
    let done = 0
    let errors = 0
    let active = 0
    let lastError = null
    const t0 = nowNs()
    const finish = () => {
      const seconds = Number(nowNs() - t0) / 1e9
      const sorted = Float64Array.from(lat).sort()
      resolve({ n: done, errors, lastError, seconds, rate: done / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), ...(samples ? { samples: lat.map((x) => Math.round(x * 10) / 10) } : {}) })
    }
    const next = () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
      while (active < concurrency && started < count && nowNs() < deadline) one()
      if (active === 0) finish()
    }
    const one = () => {
      started++
      active++
      const start = nowNs()
      const startedAt = rec === null ? 0 : now()
      let settled = false
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
      const timer = setTimeout(() => settle(new Error('no answer within 5 s')), CONNECT_TIMEOUT_MS)
      const settle = (err) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err) { errors++; lastError = err.message } else { done++; lat.push(Number(nowNs() - start) / 1000) }
        socket.destroy()
        active--
        setImmediate(next)
      }
      socket.on('connect', () => {
        if (rec !== null) { rec.markAt('client-start', socket.localPort, startedAt); rec.mark('client-connected', socket, true) }
        socket.write(ws ? WS_REQUEST : REQUEST)
      })
      if (ws) {
        let received = Buffer.alloc(0)
        socket.on('data', (chunk) => {
          received = Buffer.concat([received, chunk])
          if (!firstMessageIn(received)) return
          if (rec !== null) rec.mark('client-first-byte', socket, true)
          settle(null)
        })
      } else {
        socket.once('data', () => { if (rec !== null) rec.mark('client-first-byte', socket, true); settle(null) })
      }
      socket.on('error', (err) => settle(err))
      socket.on('close', () => settle(new Error('closed before the first byte')))
    }
    next()
  })
}

const sets = new Map() // name -> WebSocket[]

async function wsOpen ({ port, path, connections, parallel = 100, seconds = 60, set = 'default' }) {
  if (!sets.has(set)) sets.set(set, [])
  const sockets = sets.get(set)
  const WebSocket = require('ws')
  const t0 = nowNs()
  const deadline = t0 + BigInt(Math.round(seconds * 1e9))
  let opened = 0
  let errors = 0
  let lastError = null
  let i = 0
  const lat = [] // µs from the WebSocket's creation to 'open' (the handoff, for a handed-off route)
  const openOne = () => new Promise((resolve) => {
    const start = nowNs()
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false, handshakeTimeout: 10000 })
    ws.binaryType = 'nodebuffer'
    ws.once('open', () => { opened++; lat.push(Number(nowNs() - start) / 1000); sockets.push(ws); resolve() })
    ws.once('error', (err) => { errors++; lastError = err.message; resolve() })
  })
  const worker = async () => { while (i < connections && nowNs() < deadline) { i++; await openOne() } }
  await Promise.all(Array.from({ length: Math.min(parallel, connections) }, worker))
  const took = Number(nowNs() - t0) / 1e9
  const sorted = Float64Array.from(lat).sort()
  return { opened, errors, lastError, seconds: took, rate: opened / took, open: sockets.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
}

function wsEcho ({ size, seconds, max, set = 'default', samples = false }) {
  const sockets = sets.get(set) ?? []
  return new Promise((resolve) => {
    const payload = Buffer.alloc(size, 0x62)
    const lat = []
    const deadline = nowNs() + BigInt(Math.round(seconds * 1e9))
    const conns = sockets.filter((ws) => ws.readyState === 1)
    let sent = 0
    let received = 0
    let active = conns.length
    let stop = false
    const t0 = nowNs()
    const finish = () => {
      const secs = Number(nowNs() - t0) / 1e9
      const sorted = Float64Array.from(lat).sort()
      resolve({ messages: received, seconds: secs, rate: received / secs, p50: percentile(sorted, 50), p99: percentile(sorted, 99), connections: conns.length, ...(samples ? { samples: lat.map((x) => Math.round(x)) } : {}) })
    }
    if (active === 0) return finish()
    const guard = setTimeout(() => { stop = true }, seconds * 1000 + 100)
    for (const ws of conns) {
      let start = 0n
      const send = () => {
        if (stop || sent >= max) {
          ws.removeListener('message', onMessage)
          if (--active === 0) { clearTimeout(guard); finish() }
          return
        }
        sent++
        start = nowNs()
        ws.send(payload)
      }
      const onMessage = (data) => {
        const now = nowNs()
        if (data.length !== size) throw new Error(`echo of ${data.length} bytes, expected ${size}`)
        received++
        lat.push(Number(now - start) / 1000)
        if ((received & 255) === 0 && now > deadline) stop = true
        send()
      }
      ws.on('message', onMessage)
      send()
    }
  })
}

async function wsClose () {
  const all = [...sets.values()].flat()
  sets.clear()
  await Promise.all(all.map((ws) => new Promise((resolve) => {
    if (ws.readyState === 3) return resolve()
    ws.once('close', resolve)
    ws.terminate()
  })))
  return { closed: all.length }
}

serveControl({ firstByte, wsOpen, wsEcho, wsClose, ping: async () => ({ pong: true }), stages: async () => stagesRecorder().take() })
process.on('disconnect', () => process.exit(0))
process.send({ ready: true })
