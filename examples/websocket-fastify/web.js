'use strict'
// WebSocket handoff from a Fastify web app to an unmodified @fastify/websocket
// sibling. One command starts both:
//
//   node examples/websocket-fastify/web.js [--port 3001]     (or env PORT; 0: any free port)
//
// The web app's auth hook runs first; the route's `handoff` option then passes
// the connection, before the 101, to the sibling, with the user as context.
const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Fastify = require('fastify')
const { fastifyHandoff } = require('../../dist/index.js')

const portArg = process.argv.indexOf('--port')
const PORT = Number(portArg > 0 ? process.argv[portArg + 1] : process.env.PORT ?? 3001)
const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

// The sibling, on a Unix socket in a private directory.
// Ctrl-C / SIGTERM: stop the web app, then the sibling(s), then remove the directory.
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-ws-'))
const socketPath = path.join(dir, 'echo.sock')
const sibling = fork(path.join(__dirname, 'sibling.js'), [socketPath])
const siblingExited = new Promise((resolve) => sibling.once('exit', (code, signal) => resolve(code ?? signal)))
const app = Fastify()

async function main () {
  await new Promise((resolve, reject) => {
    sibling.once('message', resolve)
    siblingExited.then(() => reject(new Error('the sibling did not start')))
  })

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

  await app.listen({ port: PORT, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] listening on ws://127.0.0.1:${port}/echo (send "Authorization: Bearer let-me-in")`)
}

let stopping = null
function stop (code) {
  stopping ??= (async () => {
    await app.close()
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
