'use strict'
// One "host" of the cluster: the web app and its siblings, sharing one
// private socket directory. The web app hands /chat upgrades to the chat
// sibling and socket.io's WebSocket upgrades to the socket.io sibling; it
// answers /health (the load balancer's check) itself.
//
//   node examples/cluster/host.js --name a [--port 3101]      (REDIS_URL: fan out across hosts)
const { fork } = require('node:child_process')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { createExample } = require('../lib/example.js')

const nameAt = process.argv.indexOf('--name')
const host = nameAt > 0 ? process.argv[nameAt + 1] : 'a'
const example = createExample(`cluster-${host}`, 0)
const chatSocket = path.join(example.dir, 'chat.sock')
const ioSocket = path.join(example.dir, 'io.sock')
const chat = example.sibling(fork(path.join(__dirname, 'chat-sibling.js'), [chatSocket, host]), { name: 'the chat sibling' })
const io = example.sibling(fork(path.join(__dirname, 'io-sibling.js'), [ioSocket, host]), { name: 'the socket.io sibling' })
const app = Fastify()

example.run(async () => {
  await Promise.all([chat.ready, io.ready])
  await app.register(fastifyHandoff, { targets: { chat: chatSocket, io: ioSocket } })
  // Whoever the web app's auth says the user is; here, ?user= stands in for it.
  const context = (request) => ({ user: String(request.query.user ?? 'anonymous') })
  // An upgrade is handed off before the handler runs; anything else reaches the handler.
  app.get('/chat', { handoff: { target: 'chat', context } }, async (request, reply) => reply.code(426).send({ error: 'connect with a WebSocket' }))
  // socket.io's WebSocket transport moves; its long-polling requests cannot (each poll is a new request): refused.
  app.get('/socket.io/', { handoff: { target: 'io', context } }, async (request, reply) =>
    reply.code(400).send({ code: 3, message: 'this cluster takes the WebSocket transport only' }))
  app.get('/health', async () => ({ host, pid: process.pid, handoff: app.handoff.health() }))
  await app.listen({ port: example.port, host: '127.0.0.1' })
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[${host} web ${process.pid}] listening on http://127.0.0.1:${port} (chat ${chat.proc.pid}, socket.io ${io.proc.pid})`)
  if (process.send) process.send({ event: 'listening', host, port })
}, () => app.close())
