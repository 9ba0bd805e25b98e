'use strict'
// The measurement every pass-rate contender shares: stream passes with at
// most `window` unacknowledged (bounded in count and time), then the pass +
// acknowledgement round trip with one in flight. A contender gives how to
// send one pass and calls ack() for every acknowledgement it reads.
const { num, cpuMicros, nowNs, percentile } = require('../lib/common.js')

const noop = () => {}

function createMeter (sendOne) {
  let acked = 0
  let onAck = noop

  function stream (max, seconds, window) {
    return new Promise((resolve) => {
      const deadline = nowNs() + BigInt(Math.round(seconds * 1e9))
      const base = acked
      let sent = 0
      let stop = false
      const pump = () => {
        const done = acked - base
        if ((done & 63) === 0 && nowNs() > deadline) stop = true
        // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
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

  return {
    ack () {
      acked++
      onAck()
    },
    /**
     * Warm-up, the rate phase (CPU of both sides around it, the receiver's
     * from `receiver.cpu()`), then round trips. `defaults`: { warmup, max }.
     */
    async run (receiver, args, defaults) {
      const window = num(args.window, 32)
      await stream(num(args.warmup, defaults.warmup), 5, window)
      const rc0 = await receiver.cpu()
      const sc0 = cpuMicros()
      const t0 = nowNs()
      const passes = await stream(num(args.max, defaults.max), num(args.seconds, 1), window)
      const t1 = nowNs()
      const sc1 = cpuMicros()
      const rc1 = await receiver.cpu()
      const lat = await roundTrips(num(args.rtt, 2000), num(args['rtt-seconds'], 0.5))
      const seconds = Number(t1 - t0) / 1e9
      return {
        passes,
        seconds,
        rate: passes / seconds,
        senderCpuUs: (sc1 - sc0) / passes,
        receiverCpuUs: (rc1 - rc0) / passes,
        rttN: lat.length,
        rttP50: percentile(lat, 50),
        rttP99: percentile(lat, 99),
        window
      }
    }
  }
}

module.exports = { createMeter }
