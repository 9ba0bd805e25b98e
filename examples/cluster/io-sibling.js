'use strict'
// One host's socket.io sibling: a plain node:http server that listens on no
// port, with socket.io attached (WebSocket transport only) and the receiver
// replaying each handed-off upgrade into it. With REDIS_URL,
// @socket.io/redis-adapter makes io.emit() reach the clients of every host.
//
// A new version takes the receiver's socket over like the chat sibling
// (startSibling: the path never stops answering, new clients reach the new
// one), but a socket.io connection does not move: engine.io and socket.io
// keep per-connection state that no migration carries. So the old version
// serves the clients it has until they leave, at most IO_DRAIN_MS (default
// 30000), then disconnects them; socket.io clients reconnect (their default)
// through the load balancer, to the new version or another host.
//
//   node examples/cluster/io-sibling.js /path/to/io.sock HOSTNAME
const http = require('node:http')
const { Server } = require('socket.io')
const { WebSocketServer } = require('ws')
const { handoffInfo } = require('fastify-handoff/receiver')
const { startSibling, wsMigration } = require('fastify-handoff/migrate')
const { serveUntilStopped, tell } = require('./lifecycle.js')

const DRAIN_MS = Number(process.env.IO_DRAIN_MS ?? 30000)

async function adapter (url) {
  const Redis = require('ioredis')
  const { createAdapter } = require('@socket.io/redis-adapter')
  const pub = new Redis(url, { maxRetriesPerRequest: 2 })
  const sub = pub.duplicate()
  const made = createAdapter(pub, sub)
  // The adapter subscribes as it is built; Redis answers in order, so once a
  // PING on the subscriber is answered, the subscriptions are in place.
  await Promise.all([pub.ping(), sub.ping()])
  return { made, close: async () => { await Promise.allSettled([pub.quit(), sub.quit()]) } }
}

async function main (socketPath, host) {
  const server = http.createServer()
  // Long polling cannot move: each poll is a new HTTP request that the load
  // balancer and the web app see. Only the WebSocket transport is handed off.
  const io = new Server(server, { transports: ['websocket'], serveClient: false })
  const redis = process.env.REDIS_URL ? await adapter(process.env.REDIS_URL) : null
  if (redis !== null) io.adapter(redis.made)
  let onLeft = () => {} // once retired: stops when the last client has left

  io.on('connection', (socket) => {
    // The web app's context travels with the handed-off upgrade request.
    const user = handoffInfo(socket.request)?.context?.user ?? 'anonymous'
    socket.emit('welcome', { user, host, pid: process.pid })
    socket.on('chat', (text) => io.emit('chat', { from: user, host, text: String(text) }))
  })
  // An engine.io client is forgotten (clientsCount) just before its 'close' listeners run.
  io.engine.on('connection', (client) => client.once('close', () => onLeft()))

  // startSibling moves the WebSockets of a ws server; socket.io's are not
  // one it can move (see above): an empty one, so that nothing moves.
  const sibling = await startSibling({
    control: `${socketPath}.control`,
    receiver: { path: socketPath, server, name: `io@${host}` },
    migration: wsMigration({ wss: new WebSocketServer({ noServer: true }) })
  })
  sibling.on('moved', (report) => tell({ event: 'moved', report: { ...report, kept: { 'socket.io': io.engine.clientsCount } } }))
  console.log(`[${host} io ${process.pid}] serving socket.io on ${socketPath} (generation ${sibling.generation.generation}), adapter: ${redis === null ? 'in-memory (one host)' : 'redis'}`)

  const stop = serveUntilStopped(async () => {
    await sibling.receiver.close()
    sibling.generation.close()
    // Closes every socket.io client (and the http server, which never listened).
    await new Promise((resolve) => io.close(() => resolve()))
    if (redis !== null) await redis.close()
  })
  // The successor serves the socket: serve what is here until it leaves, or the drain limit.
  sibling.on('retired', () => {
    const limit = setTimeout(stop, DRAIN_MS)
    onLeft = () => { if (io.engine.clientsCount === 0) { clearTimeout(limit); stop() } }
    onLeft()
  })
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err)
  process.exit(1)
})
