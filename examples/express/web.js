'use strict'
// An Express web app handing off a WebSocket route and an SSE route. The
// adapter's attach() runs upgrade requests through the Express app, so the
// auth middleware sees them like any request; upgrade() and response() are
// route middleware that hand the connection to the sibling.
//
//   node examples/express/web.js [--port 3005]     (or env PORT; 0: any free port)
const { fork } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const express = require('express')
const { expressHandoff } = require('../../dist/index.js')

const portArg = process.argv.indexOf('--port')
const PORT = Number(portArg > 0 ? process.argv[portArg + 1] : process.env.PORT ?? 3005)
const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

// Ctrl-C / SIGTERM: stop the web app, then the sibling(s), then remove the directory.
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-express-'))
const socketPath = path.join(dir, 'sibling.sock')
const sibling = fork(path.join(__dirname, 'sibling.js'), [socketPath])
const siblingExited = new Promise((resolve) => sibling.once('exit', (code, signal) => resolve(code ?? signal)))

let handoff = null
let server = null

async function main () {
  await new Promise((resolve, reject) => {
    sibling.once('message', resolve)
    siblingExited.then(() => reject(new Error('the sibling did not start')))
  })

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

  await new Promise((resolve, reject) => server.once('error', reject).listen(PORT, '127.0.0.1', resolve))
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await handoff.sender.ready()
  const { port } = server.address()
  console.log(`[web ${process.pid}] ws://127.0.0.1:${port}/chat and http://127.0.0.1:${port}/events (token: let-me-in)`)
}

let stopping = null
function stop (code) {
  stopping ??= (async () => {
    if (server?.listening) await new Promise((resolve) => { server.close(resolve); server.closeIdleConnections() })
    await handoff?.close()
    sibling.kill('SIGTERM')
    const siblingCode = await siblingExited
    if (siblingCode !== 0 && siblingCode !== 'SIGTERM') { // SIGTERM: killed while still starting
      console.error(`[web ${process.pid}] the sibling exited with ${siblingCode}`)
      code = 1
    }
    fs.rmSync(dir, { recursive: true, force: true })
    console.log(`[web ${process.pid}] stopped`)
    process.exitCode = code
  })()
}
main().catch((err) => {
  if (!stopping) console.error(err) // else: stopped while starting
  stop(1)
})
