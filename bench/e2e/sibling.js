'use strict'
// The sibling process: one of the apps of apps.js, reached (one way or several)
//   via "receiver":  fastify-handoff's createReceiver (connections handed off by the web app)
//   via "tcp":       listening on 127.0.0.1 itself (direct, and the proxy's upstream)
//   via "childsend": sockets from its parent's child.send(msg, socket), replayed
//                    into the server the way sticky-session modules do
// Config: JSON in argv[2]. Answers 'cpu' (and 'stats') over IPC.
const { serveControl, procMemFds } = require('../lib/common.js')
const { buildApp } = require('./apps.js')
const { stagesRecorder } = require('../lib/stages.js')

const config = JSON.parse(process.argv[2])
const noop = () => {}

async function main () {
  // bench/stages.js: when the parser got the request, the handler ran, the first byte went.
  const rec = config.stages ? stagesRecorder() : null
  const app = await buildApp(config.app, rec === null ? {} : { mark: rec.mark })
  if (rec !== null) app.server.on('connection', (socket) => socket.prependOnceListener('data', () => rec.mark('fed', socket)))
  const ready = { ready: true, pid: process.pid }
  let receiver = null
  const via = Array.isArray(config.via) ? config.via : [config.via]
  for (const v of via) {
    if (v === 'receiver') {
      const { createReceiver } = require('fastify-handoff/receiver')
      receiver = await createReceiver({
        path: config.path,
        server: app.target,
        name: 'bench-sibling',
        log: { debug: noop, info: noop, warn: (o, m) => console.error('receiver warn', m, o), error: (o, m) => console.error('receiver error', m, o), child () { return this } }
      })
      receiver.on('error', (err) => console.error('receiver error event', err.message))
      receiver.on('reject', (r) => console.error('receiver rejected', r.reason, r.message))
    } else if (v === 'tcp') {
      await new Promise((resolve) => app.server.listen(0, '127.0.0.1', resolve))
      ready.port = app.server.address().port
    } else if (v === 'childsend') {
      process.on('message', (msg, socket) => {
        if (!msg || msg.handoff === undefined || !socket) return
        if (rec !== null) rec.mark('rebuilt', socket)
        socket.on('error', noop)
        app.server.emit('connection', socket)
        socket.emit('data', Buffer.from(msg.head, 'latin1'))
        socket.resume()
      })
    } else {
      throw new Error(`unknown via ${v}`)
    }
  }
  serveControl({
    stages: async () => stagesRecorder().take(),
    stats: async () => ({
      ...procMemFds(),
      live: receiver ? receiver.stats.live : await new Promise((resolve) => app.server.getConnections((e, n) => resolve(e ? -1 : n))),
      total: receiver ? receiver.stats.total : undefined
    })
  })
  process.on('disconnect', () => process.exit(0))
  process.send(ready)
}

main().catch((err) => { console.error(err); process.exit(1) })
