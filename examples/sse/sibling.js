'use strict'
// The sibling: a plain node:http server that streams Server-Sent Events. It
// listens on no TCP port: every request it serves was accepted by the web
// app and handed over, request head and all, with the web app's context.
//
//   node examples/sse/sibling.js /path/to/events.sock
const http = require('node:http')
const { createReceiver, handoffInfo } = require('fastify-handoff/receiver')

const streams = new Set()

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://sibling')
  if (url.pathname !== '/events') return res.writeHead(404).end()
  const { context } = handoffInfo(req) ?? {}
  const count = Number(url.searchParams.get('count') ?? Infinity) // ?count=N: end after N ticks
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  res.write(`event: hello\ndata: ${JSON.stringify({ user: context?.user ?? null, webPid: context?.webPid ?? null, pid: process.pid })}\n\n`)
  let n = 0
  const timer = setInterval(() => {
    n++
    res.write(`data: ${JSON.stringify({ n, at: new Date().toISOString(), pid: process.pid })}\n\n`)
    if (n >= count) end()
  }, Number(process.env.TICK_MS ?? 500))
  const end = () => {
    clearInterval(timer)
    streams.delete(end)
    res.end()
  }
  streams.add(end)
  req.on('close', end)
})

async function main (socketPath) {
  const receiver = await createReceiver({ path: socketPath, server })
  console.log(`[sibling ${process.pid}] streaming /events for handoffs on ${socketPath}`)
  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await receiver.close()
      for (const end of streams) end()
      await new Promise((resolve) => server.close(resolve))
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
