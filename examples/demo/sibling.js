'use strict'
// The sibling WebSocket service of the demo: an ordinary Fastify app with
// @fastify/websocket and a chat room + ticker on /chat. The only
// handoff-specific lines are startSibling() (so the web app can
// pass it connections) and handoffInfo(request) (to read what the web app
// attached: the user its auth hook found and its own pid). It listens on no
// TCP port: every connection it serves was accepted by the web app.
//
// Started by run.js (env DEMO_SOCKET, DEMO_CONTROL, DEMO_TICK_MS). Stops on
// SIGTERM, on { cmd: 'stop' } over IPC, or when run.js goes away.
//
// Live restarts (issue 14): every version starts with startSibling() on the
// same socket path and control socket. A new one takes the socket over and
// the old one moves each WebSocket to it with its state (the connection
// number and user): the page sees the sibling's pid change, never a close.
const Fastify = require('fastify')
const { handoffInfo } = require('fastify-handoff')
const { handoffMigration, startSibling } = require('fastify-handoff/migrate')

const SOCKET = process.env.DEMO_SOCKET
const CONTROL = process.env.DEMO_CONTROL
const TICK_MS = Number(process.env.DEMO_TICK_MS ?? 1000)
const log = (msg) => console.log(`[sibling ${process.pid}] ${msg}`)
const tell = (msg) => { if (process.connected) process.send(msg) }

async function main () {
  if (!SOCKET) throw new Error('DEMO_SOCKET is not set (start the demo with `npm run demo`)')
  const app = Fastify()
  await app.register(require('@fastify/websocket'), {
    // Its default closes the clients without a code; say "going away".
    preClose (done) {
      for (const ws of this.websocketServer.clients) ws.close(1001, 'the demo is stopping')
      done()
    }
  })

  const clients = new Map() // WebSocket -> { conn, user }
  let nextConn = 1
  const broadcast = (msg) => {
    const text = JSON.stringify(msg)
    for (const ws of clients.keys()) ws.send(text)
  }

  // A WebSocket moved here from the previous sibling: no 'welcome', no
  // 'join' (nobody joined); it carries its number and user.
  const resumed = (socket, { state, handoff }) => {
    const { conn, user } = state
    nextConn = Math.max(nextConn, conn + 1)
    clients.set(socket, { conn, user })
    socket.send(JSON.stringify({ type: 'moved', conn, siblingPid: process.pid, fromPid: handoff.sender.pid, live: clients.size }))
    follow(socket, conn, user)
  }
  const follow = (socket, conn, user) => {
    socket.on('message', (data) => {
      let msg
      try { msg = JSON.parse(data.toString()) } catch { return }
      if (msg.type === 'chat' && typeof msg.text === 'string') {
        broadcast({ type: 'chat', conn, user, text: msg.text.slice(0, 500), siblingPid: process.pid, at: Date.now() })
      }
      if (msg.type === 'restart-sibling') tell({ event: 'sibling-restart-request', user })
    })
    // Moved to the next sibling: gone from here without a 'leave'.
    socket.on('migrated', () => clients.delete(socket))
    socket.on('close', () => {
      clients.delete(socket)
      log(`connection #${conn} of ${user} closed`)
      broadcast({ type: 'leave', conn, user, live: clients.size })
    })
  }

  await app.register(handoffMigration)
  app.register(async (app) => {
    app.get('/chat', {
      websocket: true,
      wsState: (socket) => clients.get(socket),
      wsResume: resumed
    }, (socket, request) => {
      const info = handoffInfo(request)
      const context = info?.context ?? {}
      const conn = nextConn++
      const user = typeof context.user === 'string' ? context.user : 'anonymous'
      clients.set(socket, { conn, user })
      log(`serving connection #${conn} of ${user}, accepted by web app ${context.webappPid ?? '?'} (sender pid ${info?.sender.pid ?? '?'})`)
      socket.send(JSON.stringify({
        type: 'welcome',
        conn,
        user,
        siblingPid: process.pid,
        webappPid: context.webappPid ?? null,
        senderPid: info?.sender.pid ?? null,
        handoffMs: info ? info.receivedAt - info.sentAt : null,
        live: clients.size
      }))
      broadcast({ type: 'join', conn, user, live: clients.size })
      follow(socket, conn, user)
    })
  })

  let tick = 0
  const ticker = setInterval(() => {
    tick++
    broadcast({ type: 'tick', n: tick, at: Date.now(), siblingPid: process.pid, live: clients.size })
  }, TICK_MS)

  await app.ready()
  // The first one binds the path; a later one takes it over from the running one.
  const sibling = await startSibling({
    control: CONTROL,
    receiver: { path: SOCKET, server: app, targets: ['chat'], name: 'demo-sibling' },
    migration: app.handoffMigration,
    hardStop: 5000,
    log: (level, msg) => log(msg)
  })
  const receiver = sibling.receiver
  receiver.on('peer', (peer) => log(`web app ${peer.pid} connected to ${SOCKET}`))
  receiver.on('reject', (r) => log(`rejected a handoff: ${r.reason} ${r.message}`))
  log(`generation ${sibling.generation.generation} of the sibling`)
  log(`receiving handoffs on ${SOCKET}`)
  sibling.on('moved', (report) => tell({ event: 'moved', report }))
  sibling.on('retired', ({ closedAtHardStop }) => {
    tell({ event: 'retired', closedAtHardStop })
    stop(`its WebSockets moved to the next sibling${closedAtHardStop > 0 ? `; ${closedAtHardStop} closed at the hard stop` : ''}`)
  })
  tell({ event: 'ready', pid: process.pid })

  let stopping = null
  const stop = (why) => {
    if (stopping) return stopping
    log(`stopping (${why})`)
    clearInterval(ticker)
    stopping = (async () => {
      // Stops taking handoffs (the socket file is removed), then closes the WebSockets.
      await receiver.close()
      sibling.generation.close()
      await app.close()
      log('stopped')
      if (process.connected) process.disconnect()
    })()
    return stopping
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  // Ctrl-C reaches the whole process group: let run.js decide the order.
  process.on('SIGINT', () => { if (!process.connected) stop('SIGINT') })
  process.on('message', (msg) => { if (msg && msg.cmd === 'stop') stop('asked by run.js') })
  process.on('disconnect', () => stop('run.js went away'))
}

main().catch((err) => {
  console.error(`[sibling ${process.pid}] error: ${err.stack || err}`)
  process.exit(1)
})
