'use strict'
// The web app process: listens on 127.0.0.1 and, per mode,
//   direct:    serves the app itself
//   handoff:   node:http; every upgrade handed to the sibling with fastify-handoff's Sender
//   fastify:   Fastify + the fastifyHandoff plugin, route GET /* marked for handoff
//   childsend: forks the sibling and passes every upgraded socket with child.send(msg, socket)
//   proxy:     Fastify + @fastify/http-proxy (websocket: true) in front of the sibling's port
//   none:      listens, serves nothing (the web app idle beside a direct run)
// Config: JSON in argv[2]. Answers 'cpu', 'stats' and 'siblingCpu' (childsend) over IPC.
const http = require('node:http')
const { serveControl, procMemFds, Peer, sleep, fastifyPlugin } = require('../lib/common.js')
const { buildApp, rawHead } = require('./apps.js')
const { stagesRecorder } = require('../lib/stages.js')

const config = JSON.parse(process.argv[2])
const noop = () => {}
let handedOff = 0
let failed = 0

async function main () {
  // bench/stages.js: when the request was parsed (and, direct, answered; child.send, passed and closed).
  const rec = config.stages ? stagesRecorder() : null
  let server
  let sibling = null
  let sender = null
  let fastify = null
  if (config.mode === 'direct') {
    server = (await buildApp(config.app, rec === null ? {} : { mark: rec.mark })).server
  } else if (config.mode === 'handoff') {
    const { createSender } = require('fastify-handoff/sender')
    sender = createSender({ targets: { bench: config.path }, name: 'bench-webapp' })
    server = http.createServer((req, res) => res.end('not an upgrade'))
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', noop)
      sender.handoffUpgrade(req, socket, head, { target: 'bench', context: { user: 'bench' } }).then((r) => {
        if (r.handedOff) handedOff++
        else { failed++; if (failed < 5) console.error('handoff failed', r.outcome, r.error && r.error.message) }
      })
    })
    // Wait for the link to the receiver.
    for (let i = 0; i < 500 && !sender.health().bench.healthy; i++) await sleep(10)
    if (!sender.health().bench.healthy) throw new Error('the sender never connected: ' + JSON.stringify(sender.health()))
  } else if (config.mode === 'fastify') {
    const fastifyHandoff = fastifyPlugin()
    if (fastifyHandoff === null) throw new Error('the Fastify plugin is not built (dist/fastify.js)')
    const Fastify = require('fastify')
    fastify = Fastify({ logger: false })
    await fastify.register(fastifyHandoff, { targets: { bench: { path: config.path } }, name: 'bench-webapp' })
    fastify.get('/*', { handoff: { target: 'bench', context: () => ({ user: 'bench' }) } }, async (request, reply) => reply.code(426).send())
    await fastify.ready()
    server = fastify.server
    for (let i = 0; i < 500 && !fastify.handoff.healthy('bench'); i++) await sleep(10)
    if (!fastify.handoff.healthy('bench')) throw new Error('the plugin never connected: ' + JSON.stringify(fastify.handoff.health()))
  } else if (config.mode === 'childsend') {
    sibling = new Peer('e2e/sibling.js', [JSON.stringify({ app: config.app, via: 'childsend', stages: config.stages === true })])
    await new Promise((resolve, reject) => {
      sibling.onMessage = (m) => { if (m && m.ready) resolve() }
      sibling.child.once('exit', () => reject(new Error('sibling exited')))
    })
    server = http.createServer((req, res) => res.end('not an upgrade'))
    server.on('upgrade', (req, socket) => {
      socket.on('error', noop)
      const port = rec === null ? 0 : socket.remotePort
      // (No mark for the web app's close: child.send closes the handle itself, the socket emits nothing.)
      if (rec !== null) rec.mark('start', port)
      sibling.child.send({ handoff: 1, head: rawHead(req) }, socket, (err) => {
        if (rec !== null) rec.mark('sent', port)
        if (err) { failed++; socket.destroy() } else handedOff++
      })
    })
  } else if (config.mode === 'proxy') {
    const Fastify = require('fastify')
    fastify = Fastify({ logger: false })
    await fastify.register(require('@fastify/http-proxy'), { upstream: `http://127.0.0.1:${config.upstreamPort}`, websocket: true })
    await fastify.ready()
    server = fastify.server
  } else if (config.mode === 'none') {
    server = http.createServer((req, res) => res.end())
  } else {
    throw new Error(`unknown mode ${config.mode}`)
  }
  server.on('clientError', (err, socket) => { void err; socket.destroy() })
  if (rec !== null) server.prependListener('upgrade', (req, socket) => rec.mark('parsed', socket))
  if (fastify !== null) await fastify.listen({ port: 0, host: '127.0.0.1' })
  else await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve))
  serveControl({
    stats: async () => ({ ...procMemFds(), handedOff, failed }),
    siblingCpu: async () => sibling ? { cpu: await sibling.cpu() } : { cpu: NaN },
    siblingStats: async () => sibling ? await sibling.request('stats') : {},
    stages: async () => stagesRecorder().take(),
    siblingStages: async () => sibling ? await sibling.request('stages') : { ports: [], stages: [], times: [] }
  }, {
    // Say GOODBYE to the receiver rather than vanish.
    beforeExit: async () => {
      if (sender !== null) await sender.close()
      if (fastify !== null) await fastify.close()
    }
  })
  process.on('disconnect', () => { if (sibling) sibling.child.kill(); process.exit(0) })
  process.send({ ready: true, port: server.address().port, pid: process.pid, siblingPid: sibling ? sibling.pid : undefined })
}

main().catch((err) => { console.error(err); process.exit(1) })
