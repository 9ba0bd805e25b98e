'use strict'
// SSE handoff: a Fastify route authenticates the request, then
// `reply.handoff()` passes the connection (the response not yet started) to
// the sibling, which streams the events. One command starts both:
//
//   node examples/sse/web.js [--port 3002]     (or env PORT; 0: any free port)
//   curl -N 'http://127.0.0.1:3002/events?token=let-me-in'
const { fork } = require('node:child_process')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { createExample } = require('../lib/example.js')

const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

const example = createExample('sse', 3002)
const socketPath = path.join(example.dir, 'events.sock')
const sibling = example.sibling(fork(path.join(__dirname, 'sibling.js'), [socketPath]))
const app = Fastify()

example.run(async () => {
  await sibling.ready

  await app.register(fastifyHandoff, { targets: { events: socketPath } })
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    request.user = TOKENS[request.query.token] ?? null
    if (request.user === null) return reply.code(401).send({ error: 'unauthorized: add ?token=let-me-in' })
  })
  app.get('/events', async (request, reply) => {
    await reply.handoff('events', { user: request.user, webPid: process.pid })
  })

  await app.listen({ port: example.port, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] try: curl -N 'http://127.0.0.1:${port}/events?token=let-me-in'`)
}, () => app.close())
