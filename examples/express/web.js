'use strict'
// An Express web app handing off a WebSocket route and an SSE route. The
// adapter's attach() runs upgrade requests through the Express app, so the
// auth middleware sees them like any request; upgrade() and response() are
// route middleware that hand the connection to the sibling.
//
//   node examples/express/web.js [--port 3005]     (or env PORT; 0: any free port)
const { fork } = require('node:child_process')
const http = require('node:http')
const path = require('node:path')
const express = require('express')
const { expressHandoff } = require('fastify-handoff/express')
const { createExample } = require('../lib/example.js')

const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

const example = createExample('express', 3005)
const socketPath = path.join(example.dir, 'sibling.sock')
const sibling = example.sibling(fork(path.join(__dirname, 'sibling.js'), [socketPath]))

let handoff = null
let server = null

example.run(async () => {
  await sibling.ready

  handoff = expressHandoff({ sender: { targets: { sibling: socketPath } } })
  const app = express()
  app.use((req, res, next) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? req.query.token
    res.locals.user = TOKENS[token]
    if (res.locals.user === undefined) return res.status(401).json({ error: 'unauthorized' })
    next()
  })
  const context = (req, res) => ({ user: res.locals.user, webPid: process.pid })
  app.get('/chat', handoff.upgrade('sibling', { context }), (req, res) => res.status(426).json({ error: 'connect with a WebSocket' }))
  app.get('/events', handoff.response('sibling', { context }))
  app.get('/', (req, res) => res.json({ user: res.locals.user, pid: process.pid }))
  server = http.createServer(app)
  handoff.attach(server, app)

  await new Promise((resolve, reject) => server.once('error', reject).listen(example.port, '127.0.0.1', resolve))
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await handoff.sender.ready()
  const { port } = server.address()
  console.log(`[web ${process.pid}] ws://127.0.0.1:${port}/chat and http://127.0.0.1:${port}/events (token: let-me-in)`)
}, async () => {
  if (server?.listening) await new Promise((resolve) => { server.close(resolve); server.closeIdleConnections() })
  await handoff?.close()
})
