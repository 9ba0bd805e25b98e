// The receiver against the package's own sender (plugin/sender) in a
// node:http web app: what a real deployment runs. WebSockets reach each kind
// of sibling, an SSE request is handed off whole, and the receiver's REJECTs
// (capacity, draining) become the sender's 503 fallback.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { WsClient, rawClient, startReceiver, startWebapp, stopChild, tmpDir } from './helpers.js'

for (const kind of ['fastify', 'ws', 'raw'] as const) {
  t.test(`${kind}: a WebSocket handed off by plugin/sender`, async (t) => {
    checkFdLeaks(t)
    const sockPath = path.join(tmpDir(t), 'r.sock')
    const receiver = await startReceiver(t, kind, { path: sockPath })
    const webapp = await startWebapp(t, sockPath)
    t.equal((await receiver.event('peer')).peer.name, 'receiver-webapp', 'the sender\'s HELLO name')
    const webappFds = webapp.fds()

    const ws = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
    await ws.opened
    const hello = JSON.parse(await ws.next())
    t.equal(hello.pid, receiver.pid, 'served by the sibling')
    t.same(kind === 'fastify' ? hello.info.context : hello.context, { user: 'erin' }, 'with the web app\'s context')
    const result = await webapp.event('result')
    t.same({ outcome: result.outcome, handedOff: result.handedOff }, { outcome: 'accepted', handedOff: true })
    ws.send('ping')
    t.equal(await ws.next(), 'ping')
    ws.send('close:4003:done')
    t.same(await ws.closed, { code: 4003, reason: 'done' })
    await receiver.request('idle')
    t.equal(webapp.fds(), webappFds, 'the web app holds nothing of the handed-off connection')
    await stopChild(t, webapp)
    await stopChild(t, receiver, 'close')
  })
}

t.test('fastify: an SSE request handed off by plugin/sender; the next request on the connection never reaches the sibling', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const webapp = await startWebapp(t, sockPath)
  await receiver.event('peer')
  const client = rawClient(webapp.port)
  client.socket.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n')
  await webapp.event('result', (m) => m.outcome === 'accepted')
  await client.waitFor((d) => d.includes('data: three'))
  // The web app did not let the sibling keep the connection (laterRequests).
  client.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await client.closed
  const text = client.received().toString('latin1')
  const sse = JSON.parse(/data: (\{.*\})\n\n/.exec(text)?.[1] ?? 'null')
  t.equal(sse.pid, receiver.pid, 'the stream comes from the sibling')
  t.same(sse.info.context, { user: 'erin' })
  t.equal(sse.info.keepAlive, false)
  t.equal(text.split('HTTP/1.1 ').length, 2, 'one response on the connection')
  t.match(text, /\r\nConnection: close\r\n/i, 'which closes it')
  t.equal((await receiver.request('served')).served, 1, 'the next request never reached the sibling')
  await receiver.request('idle')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})

t.test('REJECT "capacity" and "draining" become the sender\'s 503; live connections stay served', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'ws', { path: sockPath, maxConnections: 1 })
  const webapp = await startWebapp(t, sockPath)
  await receiver.event('peer')

  const a = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await a.opened
  await a.next()
  await webapp.event('result', (m) => m.handedOff === true)

  const b = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await t.rejects(b.opened, /unexpected response 503/, 'over capacity: the client gets the web app\'s 503')
  const full = await webapp.event('result', (m) => m.handedOff === false)
  t.same({ outcome: full.outcome, reason: full.reason }, { outcome: 'rejected', reason: 'capacity' })
  await b.closed

  receiver.proc.send({ cmd: 'drain' })
  await receiver.event('draining')
  const c = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await t.rejects(c.opened, /unexpected response 503/, 'draining: the client gets the web app\'s 503')
  const drained = await webapp.event('result', (m) => m.handedOff === false)
  t.not(drained.outcome, 'accepted')
  await c.closed

  a.send('still here')
  t.equal(await a.next(), 'still here', 'the live connection is still served')
  a.ws.close(1000)
  await a.closed
  await receiver.waitFor((m) => m.reply === 'drain')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})
