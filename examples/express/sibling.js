'use strict'
// The sibling: a plain node:http server with a `ws` WebSocketServer on /chat
// and a Server-Sent Events stream on /events. It listens on no TCP port.
//
//   node examples/express/sibling.js /path/to/sibling.sock
const http = require('node:http')
const { WebSocketServer } = require('ws')
const { createReceiver, handoffInfo } = require('fastify-handoff/receiver')

const streams = new Set()
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://sibling')
  if (url.pathname !== '/events') return res.writeHead(404).end()
  const { context } = handoffInfo(req) ?? {}
  const count = Number(url.searchParams.get('count') ?? Infinity)
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  let n = 0
  const timer = setInterval(() => {
    res.write(`data: ${JSON.stringify({ n: ++n, user: context?.user, pid: process.pid })}\n\n`)
    if (n >= count) end()
  }, 200)
  const end = () => { clearInterval(timer); streams.delete(end); res.end() }
  streams.add(end)
  req.on('close', end)
})
const wss = new WebSocketServer({ server, path: '/chat' })
wss.on('connection', (ws, req) => {
  const { context } = handoffInfo(req) ?? {}
  ws.send(JSON.stringify({ hello: context?.user ?? null, pid: process.pid }))
  ws.on('message', (data) => ws.send(JSON.stringify({ echo: data.toString(), pid: process.pid })))
})

async function main (socketPath) {
  const receiver = await createReceiver({ path: socketPath, server })
  console.log(`[sibling ${process.pid}] serving /chat and /events for handoffs on ${socketPath}`)
  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await receiver.close()
      for (const ws of wss.clients) ws.close(1001, 'sibling stopping')
      for (const end of streams) end()
      await new Promise((resolve) => wss.close(() => server.close(resolve)))
      if (process.connected) process.disconnect()
    })()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  if (process.send) process.send('ready')
}

main(process.argv[2]).catch((err) => {
  console.error(err)
  process.exit(1)
})
