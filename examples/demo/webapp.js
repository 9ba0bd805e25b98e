'use strict'
// The demo's web app: an ordinary Fastify app with a session cookie and an
// auth hook. Its /chat WebSocket route is marked for handoff: once the hook
// has let the request through, the plugin passes the connection (before the
// 101) to the sibling, with the user and this process's pid as context.
//
// Started by run.js (env DEMO_SOCKET, DEMO_CONTROL, DEMO_PORT, DEMO_HOST,
// DEMO_SECRET). It listens through listener takeover: a new generation
// started while one runs takes its listening socket over (no connection is
// refused while the web app restarts); the old one then finishes what it
// serves and exits on its own. On { cmd: 'stop' } it stops listening and
// exits: the connections it handed off are not its own any more.
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const Fastify = require('fastify')
const fastifyHandoff = require('fastify-handoff')
const { listen } = require('fastify-handoff/takeover')

const env = process.env
let GENERATION = 0 // given by the takeover: the predecessor's plus one
const startedAt = Date.now()
const log = (msg) => console.log(`[web app ${process.pid}] ${msg}`)
const tell = (msg) => { if (process.connected) process.send(msg) }

// --- sessions: "<name>.<hmac>" in a cookie, signed with run.js's secret --------
const COOKIE = 'demo_session'
const sign = (name) => crypto.createHmac('sha256', env.DEMO_SECRET).update(name).digest('base64url')

function sessionCookie (name) {
  return `${COOKIE}=${Buffer.from(name).toString('base64url')}.${sign(name)}; Path=/; HttpOnly; SameSite=Strict`
}

function userOf (request) {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, value] = part.trim().split('=', 2)
    if (key !== COOKIE || value === undefined) continue
    const [encoded, mac] = value.split('.', 2)
    const name = Buffer.from(encoded, 'base64url').toString()
    const expected = sign(name)
    if (mac !== undefined && mac.length === expected.length &&
        crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) return name
  }
  return null
}

const page = (file) => fs.readFileSync(path.join(__dirname, 'public', file))
const assets = {
  '/': ['text/html; charset=utf-8', page('index.html')],
  '/client.js': ['text/javascript; charset=utf-8', page('client.js')],
  '/style.css': ['text/css; charset=utf-8', page('style.css')]
}

async function main () {
  for (const name of ['DEMO_SOCKET', 'DEMO_SECRET', 'DEMO_CONTROL']) {
    if (!env[name]) throw new Error(`${name} is not set (start the demo with \`npm run demo\`)`)
  }
  const app = Fastify({ forceCloseConnections: 'idle' })
  await app.register(fastifyHandoff, { targets: { chat: { path: env.DEMO_SOCKET } } })

  // The auth hook: every route but the page and the login needs a session.
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    request.user = userOf(request)
    if (request.routeOptions.config.public !== true && request.user === null) {
      log(`refused ${request.method} ${request.url}: no valid session (401)`)
      return reply.code(401).send({ error: 'log in first' })
    }
  })

  app.get('/favicon.ico', { config: { public: true } }, (request, reply) => reply.code(204).send())
  for (const [url, [type, body]] of Object.entries(assets)) {
    app.get(url, { config: { public: true } }, (request, reply) => reply.type(type).header('cache-control', 'no-store').send(body))
  }

  app.post('/login', { config: { public: true } }, async (request, reply) => {
    const name = String(request.body?.name ?? '').replace(/[^\p{L}\p{N} _.-]/gu, '').trim().slice(0, 32)
    if (name === '') return reply.code(400).send({ error: 'a name, please' })
    log(`${name} logged in`)
    reply.header('set-cookie', sessionCookie(name))
    return { user: name, pid: process.pid, generation: GENERATION, startedAt }
  })

  app.get('/api/whoami', async (request) => ({ user: request.user, pid: process.pid, generation: GENERATION, startedAt }))

  app.post('/api/restart', async (request) => {
    tell({ event: 'restart-request', user: request.user })
    return { restarting: true, pid: process.pid }
  })

  // The chat: authenticated here, served by the sibling.
  app.get('/chat', {
    handoff: {
      target: 'chat',
      context: (request) => {
        log(`handing the WebSocket of ${request.user} to the sibling`)
        return { user: request.user, webappPid: process.pid, generation: GENERATION }
      }
    }
  }, async (request, reply) => reply.code(426).send({ error: 'this route is a WebSocket' }))

  // Stopping on request. Listening to run.js also keeps this process alive
  // while it waits for the sibling below (the sender's sockets do not).
  let stopping = null
  const stop = (why) => {
    if (stopping) return stopping
    log(`stopping (${why})`)
    // Whatever a client still holds open after a moment is closed.
    setTimeout(() => app.server.closeAllConnections(), 2000).unref()
    stopping = app.close().then(() => {
      log('stopped')
      if (process.connected) process.disconnect()
    })
    return stopping
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => { if (!process.connected) stop('SIGINT') })
  process.on('message', (msg) => { if (msg && msg.cmd === 'stop') stop('asked by run.js') })
  process.on('disconnect', () => stop('run.js went away'))

  // The sibling must be reachable before this generation takes the port:
  // from then on the WebSockets come here.
  await app.ready()
  await app.handoff.ready()

  // The listening socket: the running web app's, if there is one (takeover);
  // else bound here. Once this one is ready, the old one stops accepting.
  const { generation, source, address } = await listen(app, {
    control: env.DEMO_CONTROL,
    port: Number(env.DEMO_PORT ?? 3000),
    host: env.DEMO_HOST ?? '127.0.0.1',
    log: (level, msg) => log(msg)
  })
  GENERATION = generation.generation
  // Asked to stop while a successor takes over: retiring is stopping already.
  generation.once('handover', () => { stopping = new Promise((resolve) => generation.once('retired', resolve)) })
  // A successor took over: this one has answered its last requests (each
  // with Connection: close), closed the app, and now leaves.
  generation.on('retired', () => {
    stopping = Promise.resolve()
    tell({ event: 'retired' })
    log('retired')
    if (process.connected) process.disconnect()
  })
  const { port } = app.server.address()
  const host = env.DEMO_HOST ?? '127.0.0.1'
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
  log(`listening on ${address} (generation ${GENERATION}, socket from ${source === 'takeover' ? `web app ${generation.predecessorPid}` : source})`)
  tell({ event: 'listening', port, url, generation: GENERATION })
}

main().catch((err) => {
  console.error(`[web app ${process.pid}] error: ${err.stack || err}`)
  process.exit(1)
})
