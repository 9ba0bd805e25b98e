'use strict'
// Issue 17: the sibling's rebuild alone, in one process, two ways interleaved
// call by call (so the machine's load falls on both alike):
//   - Node's public way: new net.Socket({ fd }) (socketOnFd), which first asks
//     libuv what the descriptor is (uv_guess_handle: fstat, SO_TYPE, getsockname);
//   - the receiver's (rebuildSocket): one getsockopt says TCP (isTcpSocket),
//     then a net.Socket on a TCP handle opened on the descriptor.
// Each then reads its peer address, as the receiver does. The descriptors
// are real loopback TCP connections, received over a Unix socket as a
// sibling receives them.
//   node bench/rebuild.js [--n 2000]   (needs ulimit -n above 3 × n)
const fs = require('node:fs')
const net = require('node:net')
const { once } = require('node:events')
const { parseArgs, num, median, tryRequire } = require('./lib/common.js')

const args = parseArgs()
const N = Math.ceil(num(args.n, 2000) / 100) * 100
const channelMod = tryRequire('channel.js')
const internals = tryRequire('internals.js')
const rebuild = tryRequire('receiver/rebuild.js')
const native = tryRequire('native.js')
if (!channelMod || !internals || !rebuild || !native) {
  console.log('bench/rebuild.js: dist/ is not built (npm run build:ts)')
  process.exit(0)
}
const framer = { headerSize: 4, maxFrameSize: 4, parse: () => ({ frameSize: 4, fdCount: 1 }) }
const us = (t0, t1) => Number(t1 - t0) / 1000

/** `count` received descriptors of loopback TCP connections (their other ends kept open). */
async function receivedDescriptors (count) {
  const server = net.createServer({ pauseOnConnect: true })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const [a, b] = channelMod.Channel.pair(framer)
  const fds = []
  const keep = []
  let all
  const allReceived = new Promise((resolve) => { all = resolve })
  b.on('message', (frame, got) => {
    fds.push(...got)
    if (fds.length >= count) all()
  })
  let accepted = 0
  let batchDone = null
  server.on('connection', (socket) => {
    keep.push(socket)
    a.sendWithCallback(Buffer.alloc(4), [socket._handle.fd], () => {})
    if (++accepted % 100 === 0 && batchDone !== null) batchDone()
  })
  for (let i = 0; i < count; i++) {
    keep.push(net.connect(server.address().port, '127.0.0.1'))
    // A hundred at a time, each batch accepted before the next: the listen
    // backlog (511) must not overflow (a dropped SYN is retried seconds later).
    if (i % 100 === 99 && accepted <= i) await new Promise((resolve) => { batchDone = resolve })
  }
  await allReceived
  return fds
}

async function main () {
  const fds = await receivedDescriptors(N)
  const ways = { public: [], receiver: [] }
  const keep = []
  const half = Math.floor(N / 2)
  for (let i = 0; i < half * 2; i++) {
    const fd = fds[i]
    const way = i % 2 === 0 ? 'public' : 'receiver'
    const t0 = process.hrtime.bigint()
    const socket = way === 'public' ? internals.socketOnFd(fd, { allowHalfOpen: false }) : rebuild.rebuildSocket(fd)
    if (socket.remoteAddress === undefined) throw new Error('no peer address')
    ways[way].push(us(t0, process.hrtime.bigint()))
    keep.push(socket)
  }
  // The first 10 % of each is warm-up.
  const warm = (a) => a.slice(Math.floor(a.length / 10))
  const pub = median(warm(ways.public))
  const rec = median(warm(ways.receiver))
  console.log('### The sibling\'s rebuild of a received TCP descriptor (median µs per call, interleaved)\n')
  console.log('| way | µs | ÷ public |\n| --- | --- | --- |')
  console.log(`| new net.Socket({ fd }) (Node guesses the kind) | ${pub.toFixed(2)} | × 1.00 |`)
  console.log(`| rebuildSocket: isTcpSocket + TCP handle + net.Socket({ handle }) | ${rec.toFixed(2)} | × ${(rec / pub).toFixed(2)} |`)
  console.log(`\n${half} calls each, ${N} descriptors; load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}.`)
  for (const s of keep) s.destroy()
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
