'use strict'
// Receiver side of the pass-rate benchmark over fastify-handoff's Channel:
// listens on a Unix path, and for each HANDOFF closes (or rebuilds a net.Socket
// on) the descriptor and answers ACCEPT.
//   argv: path mode   (mode: raw | codec | least | rebuild; least: bench/lib/frames.js's lower bound of a codec)
const net = require('node:net')
const { serveControl, tryRequire } = require('../lib/common.js')
const { frames } = require('../lib/frames.js')
const { Channel, closeFds } = require('../../dist/channel.js')
const { listenUnix } = require('../../dist/unix.js')

const [path, mode] = process.argv.slice(2)
const f = frames()
const rebuild = tryRequire('receiver/rebuild.js')
const noop = () => {}
let live = 0

function onFrame (channel, frame, fds) {
  if (mode === 'raw') {
    closeFds(fds)
    channel.sendWithCallback(f.accept(f.id(frame)), [], noop)
    return
  }
  const codec = mode === 'least' ? f.least : f
  const msg = codec.decodeHandoff(frame, fds.length)
  const id = f.id(frame)
  if (mode === 'rebuild') {
    // What a receiver does with the descriptor: its rebuild (dist/receiver/rebuild.js: the kind
    // checked, a net.Socket on it that reads nothing yet), then gone. Node's public way where
    // the library has no rebuild built.
    const socket = rebuild === null
      ? new net.Socket({ fd: fds[0], readable: false, writable: false })
      : rebuild.rebuildSocket(fds[0])
    socket.destroy()
  } else {
    closeFds(fds)
  }
  if (msg === undefined) throw new Error('no message')
  channel.sendWithCallback(codec.encodeAccept(id, ++live), [], noop)
}

async function main () {
  const listener = await listenUnix(path)
  listener.on('connection', (fd) => {
    const channel = new Channel(fd, f.framer)
    channel.on('message', (frame, fds) => onFrame(channel, frame, fds))
    channel.on('frameError', (err) => { console.error('frameError', err); process.exit(3) })
    channel.on('error', (err) => { console.error('channel error', err); process.exit(3) })
    channel.on('end', () => { })
  })
  serveControl()
  process.send({ ready: true })
  process.on('disconnect', () => { listener.close(); process.exit(0) })
}

main().catch((err) => { console.error(err); process.exit(1) })
