'use strict'
// The sibling under pm2 (ecosystem.config.js): one process in pm2's cluster
// mode, so that `pm2 reload` starts the new version before it stops the old
// one. The new one takes the socket over (startSibling) and says 'ready';
// pm2 then sends the old one SIGINT, which here means "leave once your
// WebSockets have moved" rather than "close them".
const fs = require('node:fs')
const path = require('node:path')
const Fastify = require('fastify')
const { handoffInfo } = require('fastify-handoff')
const { handoffMigration, startSibling } = require('fastify-handoff/migrate')

const DIR = process.env.HANDOFF_DIR
const log = (msg) => console.log(`[sibling ${process.pid}] ${msg}`)

async function main () {
  fs.mkdirSync(DIR, { recursive: true, mode: 0o700 })
  const app = Fastify()
  await app.register(require('@fastify/websocket'))
  await app.register(handoffMigration)
  // An echo that counts: the count moves with the WebSocket.
  const counts = new Map()
  const serve = (ws, count) => {
    counts.set(ws, count)
    ws.on('message', (data) => {
      const n = counts.get(ws) + 1
      counts.set(ws, n)
      ws.send(JSON.stringify({ n, echo: data.toString(), pid: process.pid }))
    })
  }
  app.get('/chat', {
    websocket: true,
    wsState: (ws) => ({ count: counts.get(ws) }),
    wsResume: (ws, { state }) => serve(ws, state.count)
  }, (ws, request) => {
    serve(ws, 0)
    ws.send(JSON.stringify({ welcome: true, pid: process.pid, webPid: handoffInfo(request)?.context?.webPid }))
  })
  await app.ready()

  const sibling = await startSibling({
    control: path.join(DIR, 'chat.control'),
    receiver: { path: path.join(DIR, 'chat.sock'), server: app },
    migration: app.handoffMigration,
    // Below the ecosystem's kill_timeout: what could not move is closed (1012) before pm2's SIGKILL.
    hardStop: 30000,
    log: (level, msg) => log(msg)
  })
  let handingOver = false
  sibling.generation.once('handover', () => { handingOver = true })
  sibling.on('retired', () => process.exit(0))
  if (process.send) process.send('ready')

  process.once('SIGINT', () => {
    // A reload: the successor is ready, the move is under way; 'retired' ends it.
    if (handingOver) return
    // A stop (pm2 stop, pm2 delete): no successor. Stop taking handoffs, close the WebSockets.
    sibling.receiver.close()
      .then(() => { sibling.generation.close(); return app.close() })
      .then(() => process.exit(0))
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
