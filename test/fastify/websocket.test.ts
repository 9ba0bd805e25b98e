// WebSocket upgrades through a Fastify web app, handed off to a sibling
// process (R's receiver inside an unmodified Fastify + @fastify/websocket app)
// after the app's own hooks ran.
import t, { type Test } from 'tap'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  WsClient, captureLogger, clientFrame, rawClient, serverFrames, startSibling, stopChild, tmpDir, upgradeRequest,
  type Child
} from '../sender/helpers.js'

interface Setup {
  app: FastifyInstance
  port: number
  sibling: Child
  log: ReturnType<typeof captureLogger>
  hooks: string[]
}

async function setup (t: Test): Promise<Setup> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const log = captureLogger()
  const hooks: string[] = []
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { chat: sockPath } })
  // The app's own hooks: authentication fills the context, then a rate limit.
  app.addHook('onRequest', async (request, reply) => {
    hooks.push('onRequest')
    const token = request.headers.authorization
    if (token !== 'Bearer alice' && token !== 'Bearer bob') {
      await reply.code(401).send({ error: 'unauthorized' })
      return
    }
    request.handoffContext = { user: token.slice(7), room: 'lobby' }
  })
  app.addHook('preValidation', async (request, reply) => {
    hooks.push('preValidation')
    if (request.headers['x-flood'] === 'yes') await reply.code(429).send({ error: 'slow down' })
  })
  app.addHook('preHandler', async () => { hooks.push('preHandler') })
  app.get('/ws', { handoff: 'chat' }, async () => {
    hooks.push('handler')
    return { local: true, pid: process.pid }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  t.teardown(() => app.close())
  await app.handoff.ready('chat')
  return { app, port, sibling, log, hooks }
}

t.test('a WebSocket through the app is served by the sibling: 101, messages both ways, the hook\'s context, one connection', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling, log, hooks } = await setup(t)
  await sibling.event('peer') // the app's channel is up: count from here
  const siblingFds = sibling.fds()

  const client = new WsClient(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer alice' } })
  const response = await client.opened
  t.equal(response.statusCode, 101, 'the handshake completed')
  const hello = await client.nextJson()
  t.equal(hello.pid, sibling.pid, 'the first message comes from the sibling process')
  t.not(hello.pid, process.pid)
  t.same(hello.info.context, { user: 'alice', room: 'lobby' }, 'the sibling sees the context the app\'s hook set')
  t.equal(hello.info.kind, 'upgrade')
  t.equal(hello.info.remotePort, client.localPort, 'the sibling serves the very TCP connection the client opened')
  t.match(hello.info.head, /^GET \/ws HTTP\/1\.1\r\n/, 'the request head travelled with it')
  t.match(hello.info.head, /\r\nauthorization: Bearer alice\r\n/i)
  t.same(hooks, ['onRequest', 'preValidation', 'preHandler'], 'the app\'s hooks ran first; the local handler did not')

  for (let i = 0; i < 5; i++) {
    client.send(`message ${i}`)
    t.equal(await client.next(), `message ${i}`, `message ${i} went to the sibling and back`)
  }
  t.ok(log.lines.some((l) => l.msg === 'connection handed off' && l.target === 'chat'), 'the handoff was logged through request.log')
  t.equal(app.server.listenerCount('upgrade'), 1, 'one upgrade listener')

  client.send('close:4001:done')
  t.same(await client.closed, { code: 4001, reason: 'done' }, 'the sibling closed it with its own close code')
  await sibling.request('idle')
  t.equal(sibling.fds(), siblingFds, 'the sibling released the connection\'s descriptor')
  await app.close()
  await stopChild(t, sibling)
})

t.test('a raw client sending WebSocket frames in the same packet as the upgrade: every byte arrives, in order', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling } = await setup(t)
  const raw = rawClient(port)
  await raw.connected
  const { text } = upgradeRequest('/ws', port, 'Authorization: Bearer bob\r\n')
  const frames = [clientFrame(1, 'early-1'), clientFrame(1, 'early-2'), clientFrame(2, Buffer.alloc(3000, 7))]
  raw.socket.write(Buffer.concat([Buffer.from(text), ...frames]))
  const data = await raw.waitFor((d) => serverFrames(d).length >= 4)
  t.match(data.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  const received = serverFrames(data)
  const hello = JSON.parse(received[0].payload.toString())
  t.equal(hello.pid, sibling.pid, 'served by the sibling')
  t.same(hello.info.context, { user: 'bob', room: 'lobby' })
  t.equal(received[1].payload.toString(), 'early-1')
  t.equal(received[2].payload.toString(), 'early-2')
  t.same(received[3].payload, Buffer.alloc(3000, 7), 'the binary frame arrived whole')
  // And right after: the connection keeps working.
  raw.socket.write(clientFrame(1, 'after'))
  const more = await raw.waitFor((d) => serverFrames(d).length >= 5)
  t.equal(serverFrames(more)[4].payload.toString(), 'after')
  raw.socket.destroy()
  await raw.closed
  await sibling.request('idle')
  await app.close()
  await stopChild(t, sibling)
})

t.test('a hook that replies ends the request: 401 or 429, nothing handed off', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling, hooks } = await setup(t)
  const denied = new WsClient(`ws://127.0.0.1:${port}/ws`)
  await t.rejects(denied.opened, { statusCode: 401 }, 'no credentials: 401 from the app')
  await denied.closed
  const flooded = new WsClient(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer alice', 'x-flood': 'yes' } })
  await t.rejects(flooded.opened, { statusCode: 429 }, 'rate limited: 429 from the app')
  await flooded.closed
  t.notOk(hooks.includes('handler'))
  const { stats } = await sibling.request('stats')
  t.equal(stats.total, 0, 'the sibling was offered nothing')
  await app.close()
  await stopChild(t, sibling)
})

t.test('the route\'s handler still serves ordinary requests; upgrades to other routes are answered by the app', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling } = await setup(t)
  const local = await fetch(`http://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer alice' } })
  t.same(await local.json(), { local: true, pid: process.pid }, 'a plain GET is served by the app')
  const elsewhere = new WsClient(`ws://127.0.0.1:${port}/nowhere`, { headers: { authorization: 'Bearer alice' } })
  await t.rejects(elsewhere.opened, { statusCode: 404 }, 'an upgrade to a route without handoff gets the app\'s own answer')
  await elsewhere.closed
  const { stats } = await sibling.request('stats')
  t.equal(stats.total, 0)
  await app.close()
  await stopChild(t, sibling)
})
