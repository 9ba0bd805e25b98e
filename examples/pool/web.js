'use strict'
// Several sibling processes behind one target: the web app hands each
// WebSocket of /ws to the next sibling of the pool (round-robin; or
// `balance: 'least-connections'`, from the load the siblings report). A
// sibling that goes away is skipped; its peers take the new connections.
//
//   node examples/pool/web.js [--port 3004] [--siblings 3]     (or env PORT; 0: any free port)
const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Fastify = require('fastify')
const { fastifyHandoff } = require('../../dist/index.js')

const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return Number(i > 0 ? process.argv[i + 1] : fallback)
}
const PORT = flag('port', process.env.PORT ?? 3004)
const SIBLINGS = flag('siblings', 3)

// Ctrl-C / SIGTERM: stop the web app, then the sibling(s), then remove the directory.
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-pool-'))
const siblings = Array.from({ length: SIBLINGS }, (_, i) => {
  const name = `sibling-${i + 1}`
  const socketPath = path.join(dir, `${name}.sock`)
  const child = fork(path.join(__dirname, 'sibling.js'), [socketPath, name])
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  exited.then((code) => { if (!stopping) console.log(`[web ${process.pid}] ${name} exited (${code}); the pool goes on without it`) })
  return { name, socketPath, child, exited }
})
const app = Fastify()

async function main () {
  await Promise.all(siblings.map((s) => new Promise((resolve, reject) => {
    s.child.once('message', resolve)
    s.exited.then(() => reject(new Error(`${s.name} did not start`)))
  })))

  await app.register(fastifyHandoff, {
    targets: { chat: { path: siblings.map((s) => s.socketPath), balance: 'round-robin' } }
  })
  app.get('/ws', { handoff: { target: 'chat', context: (request) => ({ via: process.pid }) } },
    async () => ({ error: 'connect with a WebSocket' }))

  await app.listen({ port: PORT, host: '127.0.0.1' })
  // Wait until the sender is connected to a sibling. After listen(), which
  // keeps the process alive (the sender's own sockets do not).
  await app.handoff.ready()
  const { port } = app.server.address()
  console.log(`[web ${process.pid}] ws://127.0.0.1:${port}/ws → ${siblings.map((s) => `${s.name} (pid ${s.child.pid})`).join(', ')}`)
}

let stopping = null
function stop (code) {
  stopping ??= (async () => {
    await app.close()
    for (const s of siblings) s.child.kill('SIGTERM')
    for (const s of siblings) {
      const siblingCode = await s.exited
      if (siblingCode !== 0 && siblingCode !== 'SIGTERM') { // SIGTERM: killed while still starting
        console.error(`[web ${process.pid}] ${s.name} exited with ${siblingCode}`)
        code = 1
      }
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
