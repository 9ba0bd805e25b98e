'use strict'
// WebSocket handoff from a Fastify web app to an unmodified @fastify/websocket
// sibling. One command starts both:
//
//   node examples/websocket-fastify/web.js [--port 3001]     (or env PORT; 0: any free port)
//
// The web app's auth hook runs first; the route's `handoff` option then passes
// the connection, before the 101, to the sibling, with the user as context.
const { fork } = require('node:child_process')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { createExample } = require('../lib/example.js')

const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

// The sibling, on a Unix socket in a private directory.
const example = createExample('ws', 3001)
const socketPath = path.join(example.dir, 'echo.sock')
const sibling = example.sibling(fork(path.join(__dirname, 'sibling.js'), [socketPath]))
const app = Fastify()

example.run(async () => {
  await sibling.ready

  await app.register(fastifyHandoff, { targets: { echo: socketPath } })
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    request.user = TOKENS[token] ?? null
    if (request.user === null) return reply.code(401).send({ error: 'unauthorized' })
  })
  app.get('/echo', {
    handoff: { target: 'echo', context: (request) => ({ user: request.user }) }
  }, async () => ({ error: 'connect with a WebSocket' }))

  await app.listen({ port: example.port, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] listening on ws://127.0.0.1:${port}/echo (send "Authorization: Bearer let-me-in")`)
}, () => app.close())
