'use strict'
// One host's chat sibling: Fastify + @fastify/websocket, fed by the host's
// web app through the handoffReceiver plugin. Its room is the bus (bus.js):
// a message from a local client is published, and whatever the bus brings,
// from this host or another, goes to every local client.
//
//   node examples/cluster/chat-sibling.js /path/to/chat.sock HOSTNAME
const Fastify = require('fastify')
const { handoffReceiver } = require('fastify-handoff')
const { createBus } = require('./bus.js')
const { serveUntilStopped } = require('./lifecycle.js')

async function main (socketPath, host) {
  const bus = createBus()
  const clients = new Set()
  bus.subscribe((message) => {
    const text = JSON.stringify(message)
    for (const ws of clients) ws.send(text)
  })
  await bus.ready

  const app = Fastify()
  await app.register(handoffReceiver, { path: socketPath, name: `chat@${host}` })
  await app.register(require('@fastify/websocket'), {
    preClose (done) {
      for (const ws of this.websocketServer.clients) ws.close(1001, 'sibling stopping')
      done()
    }
  })
  app.get('/chat', { websocket: true }, (ws, request) => {
    const user = request.handoff?.context?.user ?? 'anonymous'
    clients.add(ws)
    ws.on('close', () => clients.delete(ws))
    ws.send(JSON.stringify({ welcome: user, host, pid: process.pid }))
    ws.on('message', (data) => {
      bus.publish({ from: user, host, text: data.toString() }).catch((err) => console.error(`[${host} chat] publish failed: ${err.message}`))
    })
  })
  await app.ready()
  console.log(`[${host} chat ${process.pid}] serving /chat on ${socketPath}, bus: ${bus.kind}`)

  serveUntilStopped(async () => {
    await app.close()
    await bus.close()
  })
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err)
  process.exit(1)
})
