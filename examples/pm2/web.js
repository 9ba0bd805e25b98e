'use strict'
// The web app under pm2 (ecosystem.config.js): a worker of pm2's cluster
// mode. It listens the ordinary way: in cluster mode pm2's daemon owns the
// listening socket and hands each accepted connection to a worker, so a
// reload never closes it (listener takeover, listen(), is for fork mode,
// systemd and shells: not here). It hands /chat upgrades to the sibling.
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')

const SOCKET = path.join(process.env.HANDOFF_DIR, 'chat.sock')

async function main () {
  const app = Fastify()
  await app.register(fastifyHandoff, { targets: { chat: SOCKET } })
  app.get('/chat', { handoff: { target: 'chat', context: () => ({ webPid: process.pid }) } },
    async (request, reply) => reply.code(426).send({ error: 'connect with a WebSocket' }))
  // 503 while no sibling takes handoffs (a load balancer or probe then sends nothing here).
  app.get('/health', async (request, reply) =>
    reply.code(app.handoff.healthy() ? 200 : 503).send({ pid: process.pid, health: app.handoff.health() }))
  await app.ready()
  await app.handoff.ready()
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
  // pm2 (wait_ready) stops the old worker now: this one serves.
  if (process.send) process.send('ready')

  // pm2 stops a worker with SIGINT: answer what is in flight, then go. The
  // WebSockets handed off are the sibling's: untouched.
  process.once('SIGINT', () => { app.close().then(() => process.exit(0)) })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
