// A WebSocket handed off by a sender process is served by the sibling:
// an unmodified Fastify + @fastify/websocket app, a plain `ws` server on a
// node:http server, and a raw-event consumer speaking WebSocket by hand.
// The senders are web apps handing off with the library's own sender
// (test/fixtures/receiver-webapp.js).
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { WsClient, startPair, startReceiver, startWebapp, stopChild, tmpDir } from './helpers.js'

for (const kind of ['fastify', 'ws', 'raw'] as const) {
  t.test(`${kind}: handshake, messages both ways, close codes`, async (t) => {
    checkFdLeaks(t)
    const { receiver, webapp: sender } = await startPair(t, kind, {}, { context: { user: 'ann', room: 'lobby' } })
    const receiverFds = receiver.fds()
    const senderFds = sender.fds()

    // 1. The sibling closes with a code of its own.
    const a = new WsClient(`ws://127.0.0.1:${sender.port}/ws`)
    await a.opened
    t.match(await sender.event('result'), { outcome: 'accepted', handedOff: true })
    const { health } = await sender.request('health')
    t.match(health.sibling.receivers[0], { live: 1, max: null }, 'the receiver reports the load, this connection included')
    const hello = JSON.parse(await a.next())
    t.equal(hello.pid, receiver.pid, 'the 101 and the first message come from the sibling')
    const context = kind === 'fastify' ? hello.info.context : hello.context
    t.same(context, { user: 'ann', room: 'lobby' }, 'the sibling sees the context the sender attached')
    const remotePort = kind === 'fastify' ? hello.info.remotePort : hello.remotePort
    t.equal(remotePort, (a.ws as unknown as { _socket: { localPort: number } })._socket.localPort,
      'remotePort is the client\'s, from the kernel')
    if (kind === 'fastify') {
      t.equal(hello.info.kind, 'upgrade')
      t.match(hello.info.head, /^GET \/ws HTTP\/1\.1\r\n/, 'handoffInfo(request).head is the request head')
      t.equal(hello.info.sender.uid, process.getuid?.())
    }
    for (const text of ['one', 'two', 'x'.repeat(1000)]) {
      a.send(text)
      t.equal(await a.next(), text, `echo of a ${text.length}-byte message`)
    }
    const binary = Buffer.from([0, 1, 2, 253, 254, 255])
    a.send(binary)
    t.equal(await a.next(), binary.toString(), 'binary message echoed')
    a.send('close:4001:bye now')
    t.same(await a.closed, { code: 4001, reason: 'bye now' }, 'the client sees the sibling\'s close code and reason')

    // 2. The client closes; the sibling answers the closing handshake.
    const b = new WsClient(`ws://127.0.0.1:${sender.port}/ws`)
    await b.opened
    t.match(await sender.event('result'), { outcome: 'accepted', handedOff: true })
    await b.next()
    b.send('still here?')
    t.equal(await b.next(), 'still here?')
    b.ws.close(4100, 'client leaves')
    t.same(await b.closed, { code: 4100, reason: 'client leaves' }, 'the client\'s own close completes with its code')

    const idle = await receiver.request('idle')
    t.equal(idle.stats.live, 0, 'no live connection left in the receiver')
    t.equal(idle.stats.total, 2)
    t.equal(idle.stats.rejected, 0)
    t.equal(receiver.fds(), receiverFds, 'the receiver holds no descriptor of the closed connections')
    t.equal(sender.fds(), senderFds, 'the sender closed its copies after ACCEPT')

    await stopChild(t, sender)
    await receiver.event('peerClose')
    await stopChild(t, receiver, 'close')
  })
}

t.test('several senders at once', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'ws', { path: sockPath })
  const senders = await Promise.all([1, 2, 3].map(async (n) => await startWebapp(t, sockPath, { context: { worker: n } })))
  await Promise.all(senders.map(async () => await receiver.event('peer')))
  const stats = await receiver.request('stats')
  t.equal(stats.stats.peers, 3, 'three sender channels')

  const clients = senders.flatMap((sender) => [0, 1].map(() => new WsClient(`ws://127.0.0.1:${sender.port}/ws`)))
  await Promise.all(clients.map((c) => c.opened))
  const hellos = await Promise.all(clients.map(async (c) => JSON.parse(await c.next())))
  t.same(hellos.map((h) => h.context.worker), [1, 1, 2, 2, 3, 3], 'each connection carries its own sender\'s context')
  t.ok(hellos.every((h) => h.pid === receiver.pid), 'all served by the one sibling')
  await Promise.all(clients.map(async (c, i) => {
    c.send(`m${i}`)
    t.equal(await c.next(), `m${i}`)
  }))
  t.equal((await receiver.request('stats')).stats.live, 6)
  for (const c of clients) c.ws.close(1000)
  await Promise.all(clients.map((c) => c.closed))
  t.equal((await receiver.request('idle')).stats.total, 6)

  for (const sender of senders) await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})
