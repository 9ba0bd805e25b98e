'use strict'
// Node's own handle passing: child.send({ ...~200 B metadata }, socket,
// { keepOpen: true }) to a forked child, at most `window` pending (sent, not
// yet acknowledged by the child). Same phases and output as channel.js.
const { parseArgs, num, cpuMicros, nowNs, percentile, Peer } = require('../lib/common.js')
const { sampleRequest } = require('../lib/frames.js')
const { tcpPair } = require('./tcp.js')

const args = parseArgs()
const noop = () => {}

async function main () {
  const receiver = new Peer('pass/child-send-receiver.js')
  let acked = 0
  let onAck = noop
  await new Promise((resolve, reject) => {
    receiver.onMessage = (m) => {
      if (m && m.ack !== undefined) { acked++; onAck() } else if (m && m.ready) resolve()
    }
    receiver.child.once('exit', () => reject(new Error('receiver exited')))
  })
  const tcp = await tcpPair()
  const child = receiver.child
  let id = 0
  const sendOne = () => {
    id++
    child.send({ pass: id, meta: sampleRequest(40000 + (id & 0x3fff)).meta }, tcp.socket, { keepOpen: true })
  }

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
  await stream(num(args.warmup, 1000), 5, window)
  const rc0 = await receiver.cpu()
  const sc0 = cpuMicros()
  const t0 = nowNs()
  const passes = await stream(num(args.max, 30000), num(args.seconds, 1), window)
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
    frameSize: Buffer.byteLength(JSON.stringify({ pass: 1, meta: sampleRequest(40000).meta })),
    window
  }
  tcp.close()
  await receiver.stop()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
