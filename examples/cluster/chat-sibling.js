'use strict'
// One host's chat sibling: Fastify + @fastify/websocket, fed by the host's
// web app. Its room is the bus (bus.js): a message from a local client is
// published, and whatever the bus brings, from this host or another, goes to
// every local client.
//
// Every version starts with startSibling() on the same socket and control
// paths: the first binds the socket; a later one takes it over, and the old
// one moves each WebSocket to it with its state (the user), then exits. No
// client sees a close; messages the bus brings while a connection is on its
// way are not replayed (the bus keeps nothing).
//
//   node examples/cluster/chat-sibling.js /path/to/chat.sock HOSTNAME
const Fastify = require('fastify')
const { handoffInfo } = require('fastify-handoff')
const { handoffMigration, startSibling } = require('fastify-handoff/migrate')
const { createBus } = require('./bus.js')
const { serveUntilStopped, tell } = require('./lifecycle.js')

async function main (socketPath, host) {
  const bus = createBus()
  const clients = new Map() // WebSocket -> user
  bus.subscribe((message) => {
    const text = JSON.stringify(message)
    for (const ws of clients.keys()) ws.send(text)
  })
  await bus.ready

  const app = Fastify()
  await app.register(require('@fastify/websocket'), {
    preClose (done) {
      for (const ws of this.websocketServer.clients) ws.close(1001, 'sibling stopping')
      done()
    }
  })
  await app.register(handoffMigration)
  const serve = (ws, user) => {
    clients.set(ws, user)
    ws.on('close', () => clients.delete(ws))
    // Moved to the next version: that one serves it now.
    ws.on('migrated', () => clients.delete(ws))
    ws.on('message', (data) => {
      bus.publish({ from: user, host, pid: process.pid, text: data.toString() })
        .catch((err) => console.error(`[${host} chat] publish failed: ${err.message}`))
    })
  }
  app.get('/chat', {
    websocket: true,
    wsState: (ws) => ({ user: clients.get(ws) }),
    // A WebSocket moved here from the previous version: no welcome, it knows us.
    wsResume: (ws, { state }) => serve(ws, state.user)
  }, (ws, request) => {
    const user = handoffInfo(request)?.context?.user ?? 'anonymous'
    serve(ws, user)
    ws.send(JSON.stringify({ welcome: user, host, pid: process.pid }))
  })
  await app.ready()

  const sibling = await startSibling({
    control: `${socketPath}.control`,
    receiver: { path: socketPath, server: app, name: `chat@${host}` },
    migration: app.handoffMigration,
    hardStop: 10000
  })
  sibling.on('moved', (report) => tell({ event: 'moved', report }))
  console.log(`[${host} chat ${process.pid}] serving /chat on ${socketPath} (generation ${sibling.generation.generation}), bus: ${bus.kind}`)

  const close = async () => {
    await sibling.receiver.close()
    sibling.generation.close()
    await app.close()
    await bus.close()
  }
  const stop = serveUntilStopped(close)
  // What could not move was served until the hard stop: nothing is left here.
  sibling.on('retired', () => stop())
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err)
  process.exit(1)
})
