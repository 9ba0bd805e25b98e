'use strict'
// SSE handoff: a Fastify route authenticates the request, then
// `reply.handoff()` passes the connection (the response not yet started) to
// the sibling, which streams the events. One command starts both:
//
//   node examples/sse/web.js [--port 3002]     (or env PORT; 0: any free port)
//   curl -N 'http://127.0.0.1:3002/events?token=let-me-in'
const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Fastify = require('fastify')
const { fastifyHandoff } = require('../../dist/index.js')

const portArg = process.argv.indexOf('--port')
const PORT = Number(portArg > 0 ? process.argv[portArg + 1] : process.env.PORT ?? 3002)
const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

// Ctrl-C / SIGTERM: stop the web app, then the sibling(s), then remove the directory.
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-sse-'))
const socketPath = path.join(dir, 'events.sock')
const sibling = fork(path.join(__dirname, 'sibling.js'), [socketPath])
const siblingExited = new Promise((resolve) => sibling.once('exit', (code, signal) => resolve(code ?? signal)))
const app = Fastify()

async function main () {
  await new Promise((resolve, reject) => {
    sibling.once('message', resolve)
    siblingExited.then(() => reject(new Error('the sibling did not start')))
  })

  await app.register(fastifyHandoff, { targets: { events: socketPath } })
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    request.user = TOKENS[request.query.token] ?? null
    if (request.user === null) return reply.code(401).send({ error: 'unauthorized: add ?token=let-me-in' })
  })
  app.get('/events', async (request, reply) => {
    await reply.handoff('events', { user: request.user, webPid: process.pid })
  })

  await app.listen({ port: PORT, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] try: curl -N 'http://127.0.0.1:${port}/events?token=let-me-in'`)
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
