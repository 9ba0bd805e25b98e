'use strict'
// Sender side of the pass-rate benchmark over fastify-handoff's Channel.
// Connects to a receiver process over a Unix path and streams HANDOFF frames,
// each with a TCP socket's descriptor, at most `window` unacknowledged; then
// measures the round trip (one in flight). Prints one JSON line.
//   --mode raw|codec|least|rebuild --warmup N --max N --seconds S --window W --rtt N --rtt-seconds S
const path = require('node:path')
const { parseArgs, Peer, tempDir } = require('../lib/common.js')
const { frames } = require('../lib/frames.js')
const { Channel } = require('../../dist/channel.js')
const { connectUnix } = require('../../dist/unix.js')
const { tcpPair } = require('./tcp.js')
const { createMeter } = require('./meter.js')

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
  const codec = mode === 'least' ? f.least : f
  if (codec === null) throw new Error('the least codec needs protocol version 2 frames')
  const sendOne = mode === 'raw'
    ? () => channel.sendWithCallback(f.handoff(++id), [fd], noop)
    : () => { id++; channel.sendWithCallback(codec.encodeHandoff(id, 40000 + (id & 0x3fff)), [fd], noop) }
  const meter = createMeter(sendOne)
  channel.on('message', (frame) => {
    if (mode !== 'raw') codec.decodeAccept(frame)
    meter.ack()
  })

  const result = {
    ...await meter.run(receiver, args, { warmup: 2000, max: 100000 }),
    frameSize: mode === 'raw' ? f.handoffSize : f.encodeHandoff(1, 40000).length,
    frames: f.kind
  }
  channel.close()
  tcp.close()
  await receiver.stop()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch((err) => { console.error(err); process.exit(1) })
