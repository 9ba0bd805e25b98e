'use strict'
// A sibling in another language: the Fastify web app hands each GET /hello
// request (after its auth hook) to sibling.py, a Python program using only
// the standard library, which speaks PROTOCOL.md and answers the request on
// the descriptor it received. One command starts both:
//
//   node examples/python-sibling/web.js [--port 3003]     (or env PORT; 0: any free port)
//   curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:3003/hello
const { spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { createExample } = require('../lib/example.js')

const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

const example = createExample('py', 3003)
const socketPath = path.join(example.dir, 'python.sock')
// --stop-on-eof: it stops when its stdin (our pipe) closes, even if we die.
const sibling = example.sibling(
  spawn(process.env.PYTHON ?? 'python3', [path.join(__dirname, 'sibling.py'), socketPath, '--stop-on-eof'],
    { stdio: ['pipe', 'pipe', 'inherit'] }),
  {
    name: 'sibling.py',
    // sibling.py says "listening on <path>" once it accepts connections.
    waitReady: (proc) => new Promise((resolve) => {
      readline.createInterface({ input: proc.stdout }).on('line', (line) => {
        console.log(line)
        if (line.includes('listening on')) resolve()
      })
    })
  })
const app = Fastify()

example.run(async () => {
  await sibling.ready

  await app.register(fastifyHandoff, { targets: { python: socketPath } })
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    request.user = TOKENS[token] ?? null
    if (request.user === null) return reply.code(401).send({ error: 'unauthorized' })
  })
  app.get('/hello', async (request, reply) => {
    await reply.handoff('python', { user: request.user, webPid: process.pid })
  })

  await app.listen({ port: example.port, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] try: curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:${port}/hello`)
}, () => app.close())
