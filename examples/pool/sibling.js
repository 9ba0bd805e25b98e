'use strict'
// One sibling of the pool: a node:http server with a `ws` WebSocketServer on
// it, fed by the receiver. It listens on no TCP port.
//
//   node examples/pool/sibling.js /path/to/sibling-N.sock NAME
const http = require('node:http')
const { WebSocketServer } = require('ws')
const { createReceiver } = require('fastify-handoff/receiver')

async function main (socketPath, name) {
  const server = http.createServer((req, res) => res.writeHead(426).end())
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ sibling: name, pid: process.pid, live: wss.clients.size }))
    ws.on('message', (data) => ws.send(JSON.stringify({ echo: data.toString(), sibling: name })))
  })
  const receiver = await createReceiver({ path: socketPath, server, name })
  console.log(`[${name} ${process.pid}] ready on ${socketPath}`)

  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await receiver.close()
      for (const ws of wss.clients) ws.close(1001, `${name} stopping`)
      await new Promise((resolve) => wss.close(() => server.close(resolve)))
      console.log(`[${name} ${process.pid}] stopped`)
      if (process.connected) process.disconnect()
    })()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  if (process.send) process.send('ready')
}

main(process.argv[2], process.argv[3] ?? 'sibling').catch((err) => {
  console.error(err)
  process.exit(1)
})
