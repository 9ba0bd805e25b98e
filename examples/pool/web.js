'use strict'
// Several sibling processes behind one target: the web app hands each
// WebSocket of /ws to the next sibling of the pool (round-robin; or
// `balance: 'least-connections'`, from the load the siblings report). A
// sibling that goes away is skipped; its peers take the new connections.
//
//   node examples/pool/web.js [--port 3004] [--siblings 3]     (or env PORT; 0: any free port)
const { fork } = require('node:child_process')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { createExample, flag } = require('../lib/example.js')

const SIBLINGS = flag('siblings', 3)

const example = createExample('pool', 3004)
const siblings = Array.from({ length: SIBLINGS }, (_, i) => {
  const name = `sibling-${i + 1}`
  const socketPath = path.join(example.dir, `${name}.sock`)
  const s = example.sibling(fork(path.join(__dirname, 'sibling.js'), [socketPath, name]), { name })
  s.exited.then((code) => { if (!example.stopping) console.log(`[web ${process.pid}] ${name} exited (${code}); the pool goes on without it`) })
  return { ...s, socketPath }
})
const app = Fastify()

example.run(async () => {
  await Promise.all(siblings.map((s) => s.ready))

  await app.register(fastifyHandoff, {
    targets: { chat: { path: siblings.map((s) => s.socketPath), balance: 'round-robin' } }
  })
  app.get('/ws', { handoff: { target: 'chat', context: (request) => ({ via: process.pid }) } },
    async () => ({ error: 'connect with a WebSocket' }))

  await app.listen({ port: example.port, host: '127.0.0.1' })
  // Wait until the sender is connected to a sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] ws://127.0.0.1:${port}/ws → ${siblings.map((s) => `${s.name} (pid ${s.proc.pid})`).join(', ')}`)
}, () => app.close())
