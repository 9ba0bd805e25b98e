'use strict'
// Sender side of the pass-rate benchmark over fastify-handoff's Channel.
// Connects to a receiver process over a Unix path and streams HANDOFF frames,
// each with a TCP socket's descriptor, at most `window` unacknowledged; then
// measures the round trip (one in flight). Prints one JSON line.
//   --mode raw|codec|rebuild --warmup N --max N --seconds S --window W --rtt N --rtt-seconds S
const path = require('node:path')
const { parseArgs, num, cpuMicros, nowNs, percentile, Peer, tempDir } = require('../lib/common.js')
const { frames } = require('../lib/frames.js')
const { Channel } = require('../../dist/channel.js')
const { connectUnix } = require('../../dist/unix.js')
const { tcpPair } = require('./tcp.js')

const args = parseArgs()
const mode = args.mode ?? 'raw'
const f = frames()
const noop = () => {}

async function main () {
  const dir = tempDir()
  const sockPath = path.join(dir, 'pass.sock')
  const receiver = new Peer('pass/channel-receiver.js', [sockPath, mode])
  await new Promise((resolve, reject) => {
    receiver.onMessage = (m) => { if (m && m.ready) resolve() }
    receiver.child.once('exit', () => reject(new Error('receiver exited')))
  })
  const channel = new Channel(await connectUnix(sockPath), f.framer)
  channel.on('error', (err) => { console.error('channel error', err); process.exit(3) })
  const tcp = await tcpPair()
  const fd = tcp.fd

  let id = 0
  let acked = 0
  let onAck = noop
  channel.on('message', (frame) => {
    if (mode !== 'raw') f.decodeAccept(frame)
    acked++
    onAck()
  })
  const sendOne = mode === 'raw'
    ? () => channel.sendWithCallback(f.handoff(++id), [fd], noop)
    : () => { id++; channel.sendWithCallback(f.encodeHandoff(id, 40000 + (id & 0x3fff)), [fd], noop) }

  function stream (max, seconds, window) {
    return new Promise((resolve) => {
      const deadline = nowNs() + BigInt(Math.round(seconds * 1e9))
      const base = acked
      let sent = 0
      let stop = false
      const pump = () => {
        const done = acked - base
        if ((done & 63) === 0 && nowNs() > deadline) stop = true
        while (!stop && sent < max && sent - done < window) {
          sendOne()
          sent++
        }
        if (done === sent && (stop || sent >= max)) { onAck = noop; resolve(done) }
      }
      onAck = pump
      pump()
    })
  }

  async function roundTrips (max, seconds) {
    const lat = []
    const deadline = nowNs() + BigInt(Math.round(seconds * 1e9))
    while (lat.length < max && nowNs() < deadline) {
      const t0 = nowNs()
      await new Promise((resolve) => { onAck = resolve; sendOne() })
      lat.push(Number(nowNs() - t0) / 1000)
    }
    onAck = noop
    return lat
  }

  const window = num(args.window, 32)
  await stream(num(args.warmup, 2000), 5, window)
  const rc0 = await receiver.cpu()
  const sc0 = cpuMicros()
  const t0 = nowNs()
  const passes = await stream(num(args.max, 100000), num(args.seconds, 1), window)
  const t1 = nowNs()
  const sc1 = cpuMicros()
  const rc1 = await receiver.cpu()
  const lat = await roundTrips(num(args.rtt, 2000), num(args['rtt-seconds'], 0.5))
  const seconds = Number(t1 - t0) / 1e9
  const result = {
    passes,
    seconds,
    rate: passes / seconds,
    senderCpuUs: (sc1 - sc0) / passes,
    receiverCpuUs: (rc1 - rc0) / passes,
    rttN: lat.length,
    rttP50: percentile(lat, 50),
    rttP99: percentile(lat, 99),
    frameSize: mode === 'raw' ? f.handoffSize : f.encodeHandoff(1, 40000).length,
    frames: f.kind,
    window
  }
  channel.close()
  tcp.close()
  await receiver.stop()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
