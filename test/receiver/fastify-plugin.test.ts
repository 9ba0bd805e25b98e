// The receiver as a Fastify plugin (plugin/receiver/fastify.ts), across real
// processes: the library's own sender in a node:http web app
// (receiver-webapp.js) hands connections to a Fastify sibling that only
// registers the plugin (sibling-plugin.js). Route handlers see the handoff as
// request.handoff; app.close() stops the handoffs before the app winds down.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import Fastify from 'fastify'
import { checkFdLeaks } from '../helpers/fds.js'
import { handoffReceiver } from '../../plugin/receiver/fastify.js'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { createReceiver } from '../../plugin/receiver/receiver.js'
import { WsClient, forkFixture, rawClient, startWebapp, stopChild, tmpDir, type Child } from './helpers.js'

async function startSibling (t: Test, options: object): Promise<Child> {
  const child = forkFixture('sibling-plugin.js', options, 'sibling-plugin')
  t.teardown(() => child.kill())
  const ready = await child.waitFor((m) => m.event === 'ready' || m.event === 'fatal', 'ready')
  if (ready.event === 'fatal') throw new Error(`sibling failed: ${ready.message as string}`)
  return child
}

t.test('a WebSocket and an SSE request served through the plugin, with request.handoff in the handlers', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startSibling(t, { path: sockPath })
  t.same(sibling.seen('ready')[0].local, { handoff: null }, 'a request the app accepted itself has no request.handoff')
  const webapp = await startWebapp(t, sockPath, { context: { user: 'ines' } })
  t.equal((await sibling.event('peer')).peer.name, 'receiver-webapp', 'the receiver runs once the app is ready')
  const webappFds = webapp.fds()
  const siblingFds = sibling.fds()

  const ws = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await ws.opened
  const hello = await ws.nextJson()
  t.equal(hello.pid, sibling.pid, 'the WebSocket is served by the sibling')
  t.same(hello.info, { id: hello.info.id, kind: 'upgrade', context: { user: 'ines' }, requestNumber: 1, keepAlive: false, senderPid: webapp.pid },
    'the @fastify/websocket handler sees request.handoff with the web app\'s context')
  ws.send('ping')
  t.equal(await ws.next(), 'ping')

  const client = rawClient(webapp.port)
  client.socket.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n')
  const text = (await client.waitFor((d) => d.includes('data: end'))).toString('latin1')
  const sse = JSON.parse(/data: (\{.*\})\n\n/.exec(text)?.[1] ?? 'null')
  t.equal(sse.pid, sibling.pid, 'the SSE stream is served by the sibling')
  t.same({ kind: sse.info.kind, context: sse.info.context, requestNumber: sse.info.requestNumber }, { kind: 'request', context: { user: 'ines' }, requestNumber: 1 },
    'the route handler sees request.handoff')
  client.socket.end()
  await client.closed

  ws.send('bye')
  t.equal(await ws.next(), 'bye')
  ws.ws.close()
  await ws.closed
  t.equal((await webapp.request('idle')).idle, true, 'the web app is idle')
  t.equal(webapp.fds(), webappFds, 'the web app holds nothing of the handed-off connections')
  const idle = await sibling.request('idle')
  t.same({ total: idle.stats.total, live: idle.stats.live }, { total: 2, live: 0 }, 'two handoffs accepted, none left open')
  t.equal(sibling.fds(), siblingFds, 'the sibling holds nothing of the closed connections')
  await stopChild(t, webapp)
  await stopChild(t, sibling, 'close')
})

t.test('app.close(): senders hear "draining" first, new handoffs fall back with 503, then the socket file goes', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const webapp = await startWebapp(t, sockPath)
  await sibling.event('peer')
  const webappFds = webapp.fds()

  const ws = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await ws.opened
  await ws.next()
  // A stream the app must end itself: it holds app.close() between preClose and onClose.
  const stream = rawClient(webapp.port)
  stream.socket.write('GET /sse?hold HTTP/1.1\r\nHost: x\r\n\r\n')
  await stream.waitFor((d) => d.includes('data: {'))

  sibling.proc.send({ cmd: 'close' })
  const preClose = await sibling.event('preClose')
  t.equal(preClose.stats.draining, true, 'the receiver stopped taking handoffs in preClose')
  t.equal((await ws.closed).code, 1005, '@fastify/websocket closes the handed-off WebSocket')
  t.ok(fs.existsSync(sockPath), 'the socket file is still there while the app winds down')

  const late = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await t.rejects(late.opened, /unexpected response 503/, 'a handoff during close falls back at the web app with 503')
  await late.closed
  const lateResult = await webapp.event('result', (m) => m.handedOff === false)
  t.not(lateResult.outcome, 'accepted', `the sender did not hand it off (${lateResult.outcome as string} ${lateResult.reason as string})`)
  t.equal(sibling.seen('closed').length, 0, 'app.close() waits for the stream the app still serves')

  t.equal((await sibling.request('endStreams')).ended, 1)
  await stream.waitFor((d) => d.includes('data: end'))
  stream.socket.end()
  await stream.closed
  const closed = await sibling.event('closed')
  t.same({ peers: closed.stats.peers, total: closed.stats.total }, { peers: 0, total: 2 }, 'onClose: no sender channel left; the late handoff was never accepted')
  t.notOk(fs.existsSync(sockPath), 'the socket file is removed')
  const { code, signal } = await sibling.exited
  t.same({ code, signal }, { code: 0, signal: null }, 'the sibling exits on its own: nothing left open')

  const after = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await t.rejects(after.opened, /unexpected response 503/, 'with the sibling gone, the web app answers 503')
  await after.closed
  t.equal((await webapp.request('idle')).idle, true, 'the web app is idle')
  t.equal(webapp.fds(), webappFds - 1, 'the web app holds nothing of the handoffs, and its channel to the sibling is closed')
  await stopChild(t, webapp)
})

t.test('bad options and an unusable path surface at app.ready()', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  for (const [options, name] of [
    [{}, 'path'],
    [{ path: path.join(dir, 'a.sock'), maxConnections: -1 }, 'maxConnections'],
    [{ path: path.join(dir, 'a.sock'), allow: { uids: ['root'] } }, 'allow'],
    [{ path: path.join(dir, 'a.sock'), server: {} }, 'server']
  ] as const) {
    const app = Fastify()
    app.register(handoffReceiver, options as object)
    const err = await app.ready().then(() => null, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'ERR_HANDOFF_RECEIVER_OPTION', `${name}: ERR_HANDOFF_RECEIVER_OPTION`)
    t.match(err?.message, new RegExp(`"${name}`), `${name}: names the option`)
    t.notOk(fs.existsSync(path.join(dir, 'a.sock')), `${name}: no socket was bound`)
    await app.close()
  }

  // A path a live receiver holds: refused when the app gets ready.
  const taken = path.join(dir, 'taken.sock')
  const holder = await createReceiver({ path: taken, server: Fastify().server })
  t.teardown(() => holder.close())
  const app = Fastify()
  app.register(handoffReceiver, { path: taken })
  const err = await app.ready().then(() => null, (e: Error & { code?: string }) => e)
  t.equal(err?.code, 'ERR_HANDOFF_PATH_IN_USE', 'the path in use fails app.ready()')
  t.equal(app.handoffReceiver, null, 'no receiver')
  await app.close()
  await holder.close()
  t.notOk(fs.existsSync(taken))
})

t.test('from a Fastify web app with laterRequests: \'sibling\': request.handoff numbers the later requests', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startSibling(t, { path: sockPath, targets: ['chat'] })
  const webapp = forkFixture('webapp-fastify.js', { path: sockPath }, 'webapp-fastify')
  t.teardown(() => webapp.kill())
  const { port } = await webapp.event('listening')
  await sibling.event('peer')

  const client = rawClient(port as number)
  client.socket.write('GET /sse?keep HTTP/1.1\r\nHost: x\r\n\r\n')
  await client.waitFor((d) => d.includes('data: end'))
  client.socket.write('GET /local HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await client.closed
  const text = client.received().toString('latin1')
  const sse = JSON.parse(/data: (\{.*\})\n\n/.exec(text)?.[1] ?? 'null')
  t.same({ pid: sse.pid, requestNumber: sse.info.requestNumber, keepAlive: sse.info.keepAlive, context: sse.info.context },
    { pid: sibling.pid, requestNumber: 1, keepAlive: true, context: { user: 'dave', webapp: webapp.pid } }, 'the handed-off request is number 1')
  const later = JSON.parse(text.slice(text.lastIndexOf('\r\n\r\n') + 4))
  t.same({ requestNumber: later.handoff?.requestNumber, context: later.handoff?.context }, { requestNumber: 2, context: { user: 'dave', webapp: webapp.pid } },
    'the later request, which the web app never saw, is number 2')
  await stopChild(t, webapp, 'close')
  await stopChild(t, sibling, 'close')
})

t.test('with the web-app plugin in the same app: no decorator collides', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const app = Fastify()
  await app.register(fastifyHandoff, { targets: {} })
  await app.register(handoffReceiver, { path: sockPath })
  app.get('/', async (request) => ({ handoff: request.handoff ?? null, context: request.handoffContext }))
  await app.ready()
  t.equal(typeof app.handoff.health, 'function', 'app.handoff is the web-app plugin\'s')
  t.equal(app.handoffReceiver?.address, sockPath, 'app.handoffReceiver is the receiver')
  t.ok(fs.statSync(sockPath).isSocket(), 'listening once ready')
  t.same((await app.inject('/')).json(), { handoff: null, context: null }, 'request.handoff beside request.handoffContext')
  await app.close()
  t.notOk(fs.existsSync(sockPath), 'app.close() removes the socket file')
  t.equal(app.handoffReceiver?.stats.peers, 0)
})
