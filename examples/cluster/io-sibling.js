'use strict'
// One host's socket.io sibling: a plain node:http server that listens on no
// port, with socket.io attached (WebSocket transport only) and the receiver
// replaying each handed-off upgrade into it. With REDIS_URL,
// @socket.io/redis-adapter makes io.emit() reach the clients of every host.
//
//   node examples/cluster/io-sibling.js /path/to/io.sock HOSTNAME
const http = require('node:http')
const { Server } = require('socket.io')
const { createReceiver, handoffInfo } = require('fastify-handoff/receiver')
const { serveUntilStopped } = require('./lifecycle.js')

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

  io.on('connection', (socket) => {
    // The web app's context travels with the handed-off upgrade request.
    const user = handoffInfo(socket.request)?.context?.user ?? 'anonymous'
    socket.emit('welcome', { user, host, pid: process.pid })
    socket.on('chat', (text) => io.emit('chat', { from: user, host, text: String(text) }))
  })

  const receiver = await createReceiver({ path: socketPath, server, name: `io@${host}` })
  console.log(`[${host} io ${process.pid}] serving socket.io on ${socketPath}, adapter: ${redis === null ? 'in-memory (one host)' : 'redis'}`)

  serveUntilStopped(async () => {
    await receiver.close()
    // Closes every socket.io client (and the http server, which never listened).
    await new Promise((resolve) => io.close(() => resolve()))
    if (redis !== null) await redis.close()
  })
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err)
  process.exit(1)
})
