'use strict'
// Node's own handle passing: child.send({ ...~200 B metadata }, socket,
// { keepOpen: true }) to a forked child, at most `window` pending (sent, not
// yet acknowledged by the child). Same phases and output as channel.js.
const { parseArgs, Peer } = require('../lib/common.js')
const { sampleRequest } = require('../lib/frames.js')
const { tcpPair } = require('./tcp.js')
const { createMeter } = require('./meter.js')

const args = parseArgs()

async function main () {
  const receiver = new Peer('pass/child-send-receiver.js')
  let meter = null
  await new Promise((resolve, reject) => {
    receiver.onMessage = (m) => {
      if (m && m.ack !== undefined) meter.ack()
      else if (m && m.ready) resolve()
    }
    receiver.child.once('exit', () => reject(new Error('receiver exited')))
  })
  const tcp = await tcpPair()
  const child = receiver.child
  let id = 0
  meter = createMeter(() => {
    id++
    child.send({ pass: id, meta: sampleRequest(40000 + (id & 0x3fff)).meta }, tcp.socket, { keepOpen: true })
  })

  const result = {
    ...await meter.run(receiver, args, { warmup: 1000, max: 30000 }),
    frameSize: Buffer.byteLength(JSON.stringify({ pass: 1, meta: sampleRequest(40000).meta }))
  }
  tcp.close()
  await receiver.stop()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
