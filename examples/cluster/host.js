'use strict'
// One "host" of the cluster: the web app (web.js) and its siblings, sharing
// one private socket directory, and restarts of either without downtime.
//
//   node examples/cluster/host.js --name a [--port 3101]      (REDIS_URL: fan out across hosts)
//
//   kill -HUP <pid>    restart the web app: a new generation takes the listening socket over
//                      (nothing is refused), the old one answers what it serves and exits
//   kill -USR2 <pid>   restart the siblings: each new one takes its socket over; the chat
//                      sibling's WebSockets move to the new one, socket.io's stay with the old
//                      one until they leave (io-sibling.js says why)
//   Ctrl-C, SIGTERM    stop: the web apps first, then the siblings
const { fork } = require('node:child_process')
const path = require('node:path')
const { createExample } = require('../lib/example.js')

const nameAt = process.argv.indexOf('--name')
const host = nameAt > 0 ? process.argv[nameAt + 1] : 'a'
const example = createExample(`cluster-${host}`, 0)
const sockets = { chat: path.join(example.dir, 'chat.sock'), io: path.join(example.dir, 'io.sock') }
const files = { chat: 'chat-sibling.js', io: 'io-sibling.js' }
const labels = { chat: 'chat sibling', io: 'socket.io sibling' }
const log = (msg) => console.log(`[${host}] ${msg}`)

/** The first IPC message of `proc` with this `event`; rejects if it exits first. */
function message (proc, event) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => { if (msg?.event === event) { proc.off('exit', onExit); proc.off('message', onMessage); resolve(msg) } }
    const onExit = (code, signal) => { proc.off('message', onMessage); reject(new Error(`${proc.pid} exited (${signal ?? code}) before "${event}"`)) }
    proc.on('message', onMessage)
    proc.once('exit', onExit)
  })
}

const siblings = {} // kind -> the current one's example.sibling()
function startSibling (kind) {
  const proc = fork(path.join(__dirname, files[kind]), [sockets[kind], host])
  return example.sibling(proc, { name: `the ${labels[kind]} ${proc.pid}` })
}

let web = null // the current generation of the web app: { proc, exited }
const webApps = new Set() // every generation still running (a retired one drains, then exits)
let port = example.port
async function startWeb () {
  const proc = fork(path.join(__dirname, 'web.js'), [], {
    env: { ...process.env, CLUSTER_HOST: host, CLUSTER_PORT: String(port), CLUSTER_CONTROL: path.join(example.dir, 'web.control'), CLUSTER_CHAT: sockets.chat, CLUSTER_IO: sockets.io }
  })
  const app = { proc, exited: new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal))) }
  webApps.add(app)
  app.exited.then((code) => {
    webApps.delete(app)
    if (code !== 0) console.error(`[${host}] the web app ${proc.pid} exited with ${code}`)
    if (app === web && !example.stopping) {
      console.error(`[${host}] the web app exited on its own: stopping`)
      process.kill(process.pid, 'SIGTERM')
    }
  })
  const listening = await message(proc, 'listening')
  port = listening.port // --port 0: every later generation takes the same socket
  web = app
  return listening
}

let restarting = Promise.resolve()
/** One restart at a time; a failed one leaves the running processes serving. */
function restart (what, run) {
  restarting = restarting.then(run).catch((err) => console.error(`[${host}] ${what} restart failed, the running one serves on: ${err.message}`))
}

process.on('SIGHUP', () => restart('web app', async () => {
  const old = web.proc.pid
  const { generation } = await startWeb()
  log(`web app ${old} → ${web.proc.pid} (generation ${generation}), port ${port}`)
}))

process.on('SIGUSR2', () => restart('sibling', async () => {
  for (const kind of ['chat', 'io']) {
    const old = siblings[kind]
    const moved = message(old.proc, 'moved')
    const next = startSibling(kind)
    await next.ready
    siblings[kind] = next
    const { report } = await moved
    log(`${labels[kind]} ${old.proc.pid} → ${next.proc.pid}: moved ${report.moved}, kept ${JSON.stringify(report.kept)}, closed ${report.closed}`)
  }
}))

example.run(async () => {
  siblings.chat = startSibling('chat')
  siblings.io = startSibling('io')
  await Promise.all([siblings.chat.ready, siblings.io.ready])
  await startWeb()
  console.log(`[${host} web ${web.proc.pid}] listening on http://127.0.0.1:${port} (chat ${siblings.chat.proc.pid}, socket.io ${siblings.io.proc.pid})`)
  if (process.send) process.send({ event: 'listening', host, port })
}, async () => {
  // Every generation: a retired one is still answering its last requests.
  for (const app of webApps) app.proc.kill('SIGTERM')
  await Promise.all([...webApps].map((app) => app.exited))
})
