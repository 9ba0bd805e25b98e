'use strict'
// One host's web app, one generation of it. It authenticates (here ?user=
// stands in for it) and hands /chat upgrades to the chat sibling and
// socket.io's WebSocket upgrades to the socket.io sibling; it answers
// /health (the load balancer's check) itself. It listens through listener
// takeover: a new generation started while one runs takes its listening
// socket over (nothing is refused), and the old one then answers what it
// still serves and exits by itself.
//
// Started by host.js (env CLUSTER_HOST, CLUSTER_PORT, CLUSTER_CONTROL,
// CLUSTER_CHAT, CLUSTER_IO). Stops on SIGTERM or when host.js goes away.
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { listen } = require('fastify-handoff/takeover')

const env = process.env
const host = env.CLUSTER_HOST
const log = (msg) => console.log(`[${host} web ${process.pid}] ${msg}`)

async function main () {
  const app = Fastify()
  await app.register(fastifyHandoff, { targets: { chat: env.CLUSTER_CHAT, io: env.CLUSTER_IO } })
  // Whoever the web app's auth says the user is; here, ?user= stands in for it.
  const context = (request) => ({ user: String(request.query.user ?? 'anonymous') })
  // An upgrade is handed off before the handler runs; anything else reaches the handler.
  app.get('/chat', { handoff: { target: 'chat', context } }, async (request, reply) => reply.code(426).send({ error: 'connect with a WebSocket' }))
  // socket.io's WebSocket transport moves; its long-polling requests cannot (each poll is a new request): refused.
  app.get('/socket.io/', { handoff: { target: 'io', context } }, async (request, reply) =>
    reply.code(400).send({ code: 3, message: 'this cluster takes the WebSocket transport only' }))
  app.get('/health', async () => ({ host, pid: process.pid, handoff: app.handoff.health() }))

  let stopping = null
  const stop = () => {
    stopping ??= app.close().then(() => { if (process.connected) process.disconnect() })
  }
  process.on('SIGTERM', stop)
  // Ctrl-C reaches the whole process group: host.js decides the order.
  process.on('SIGINT', () => { if (!process.connected) stop() })
  process.on('disconnect', stop)

  // The siblings must answer before this generation takes the port: from then on the upgrades come here.
  await app.ready()
  await app.handoff.ready()
  const { generation } = await listen(app, {
    control: env.CLUSTER_CONTROL,
    port: Number(env.CLUSTER_PORT),
    host: '127.0.0.1',
    log: (level, message) => log(message)
  })
  // Taken over: listen() has stopped accepting, drained and closed the app.
  generation.on('retired', () => {
    stopping ??= Promise.resolve()
    log('retired')
    if (process.connected) process.disconnect()
  })
  const { port } = app.server.address()
  if (process.send) process.send({ event: 'listening', port, generation: generation.generation })
}

main().catch((err) => {
  console.error(`[${host} web ${process.pid}] ${err.stack || err}`)
  process.exit(1)
})
