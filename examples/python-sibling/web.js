'use strict'
// A sibling in another language: the Fastify web app hands each GET /hello
// request (after its auth hook) to sibling.py, a Python program using only
// the standard library, which speaks PROTOCOL.md and answers the request on
// the descriptor it received. One command starts both:
//
//   node examples/python-sibling/web.js [--port 3003]     (or env PORT; 0: any free port)
//   curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:3003/hello
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const Fastify = require('fastify')
const { fastifyHandoff } = require('../../dist/index.js')

const portArg = process.argv.indexOf('--port')
const PORT = Number(portArg > 0 ? process.argv[portArg + 1] : process.env.PORT ?? 3003)
const TOKENS = { 'let-me-in': 'alice' } // a stand-in for real authentication

// Ctrl-C / SIGTERM: stop the web app, then the sibling(s), then remove the directory.
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-py-'))
const socketPath = path.join(dir, 'python.sock')
// --stop-on-eof: it stops when its stdin (our pipe) closes, even if we die.
const sibling = spawn(process.env.PYTHON ?? 'python3', [path.join(__dirname, 'sibling.py'), socketPath, '--stop-on-eof'],
  { stdio: ['pipe', 'pipe', 'inherit'] })
const siblingExited = new Promise((resolve) => sibling.once('exit', (code, signal) => resolve(code ?? signal)))
const app = Fastify()

async function main () {
  // sibling.py says "listening on <path>" once it accepts connections.
  await new Promise((resolve, reject) => {
    readline.createInterface({ input: sibling.stdout }).on('line', (line) => {
      console.log(line)
      if (line.includes('listening on')) resolve()
    })
    siblingExited.then(() => reject(new Error('sibling.py did not start')))
  })

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

  await app.listen({ port: PORT, host: '127.0.0.1' })
  // Wait until the sender is connected to the sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] try: curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:${port}/hello`)
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
