// The framework-free sender against the library's own receivers (child
// processes running createReceiver): many handoffs in flight on one channel,
// pools (round robin, least connections from the load the receivers report
// in their ACCEPTs and STATUS frames, a retryable REJECT offered to the next
// receiver, a final one not), and reconnecting when a receiver restarts.
//
// One test keeps the hand-built receiver (test/fixtures/sibling-faulty.js):
// verdicts in an order other than the HANDOFFs'. The library's receiver
// decides each HANDOFF as it reads it, so it never reorders; another
// implementation of the protocol may, and the sender must cope.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { forkFixture } from '../helpers/child.js'
import {
  linkLoad, linksReady, offerRaw, openRaw, parseResponse, rawClient, startFaulty, startSibling, stopChild, tmpDir, upgradeApp, closeAll,
  type Child, type Offered
} from './helpers.js'

t.test('many handoffs in flight on one channel to the real receiver: each client gets its own connection served', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const count = 24
  const receiver = await startSibling(t, { path: sockPath }, 'raw')
  const app = await upgradeApp(t, { targets: { pool: sockPath } }, 'pool')
  await linksReady(app.sender, 'pool')
  const opened = await Promise.all(Array.from({ length: count }, async (_, i) => await openRaw(app.port, `/client/${i}`)))
  for (const [i, answer] of opened.entries()) {
    t.equal(answer.status, 200)
    t.equal(answer.info.pid, receiver.pid, `client ${i} served by the receiver`)
    t.same(answer.info.context, { url: `/client/${i}` }, `client ${i}: its own handoff`)
    t.equal(answer.info.remotePort, await answer.client.localPort, `client ${i}: its own connection`)
  }
  t.equal(new Set(opened.map((a) => a.info.id)).size, count, 'each with its own id')
  t.equal(app.results.filter((r) => r.handedOff).length, count)
  t.equal(app.sender.target('pool').links[0].inFlight, 0)
  t.equal(app.sender.target('pool').links[0].load.live, count, 'the last ACCEPT reported every connection live')
  for (const answer of opened) answer.client.socket.end()
  await Promise.all(opened.map((answer) => answer.client.closed))
  await closeAll(t, app, [receiver])
})

t.test('many handoffs in flight, verdicts in reverse order (a faulty receiver): each settles its own connection', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const count = 24
  const receiver = await startFaulty(t, { path: sockPath, mode: 'batch', count } as { path: string })
  const app = await upgradeApp(t, { targets: { pool: sockPath } }, 'pool')
  await linksReady(app.sender, 'pool')
  // The faulty receiver answers a raw upgrade with an HTTP 200 whose JSON body names the head it got.
  const answers = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const client = rawClient(app.port)
    await client.connected
    client.socket.write(`GET /client/${i} HTTP/1.1\r\nHost: x\r\nUpgrade: test-protocol\r\nConnection: Upgrade\r\n\r\n`)
    const answer = parseResponse(await client.ended)
    client.socket.destroy()
    await client.closed
    return { status: answer?.status, body: JSON.parse(answer?.body ?? '{}') }
  }))
  const handoffs = receiver.seen('handoff')
  t.equal(handoffs.length, count, `${count} HANDOFFs reached the receiver before any verdict`)
  t.equal(new Set(handoffs.map((h) => h.id)).size, count, 'each with its own id')
  const verdicts = receiver.seen('verdict').map((v) => v.id)
  t.same(verdicts, handoffs.map((h) => h.id).reverse(), 'the verdicts came back in reverse order')
  answers.forEach((answer, i) => {
    t.equal(answer.status, 200)
    t.equal(answer.body.servedBy, receiver.pid)
    t.match(answer.body.head, new RegExp(`^GET /client/${i} HTTP/1\\.1\\r\\n`), `client ${i} got its own connection back`)
  })
  t.equal(app.results.filter((r) => r.handedOff).length, count)
  t.equal(app.sender.target('pool').links[0].inFlight, 0)
  await app.sender.close()
  await receiver.event('peerClose')
  await stopChild(t, receiver, 'exit')
})

t.test('a pool: round robin over real receivers', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map(async (p) => await startSibling(t, { path: p }, 'raw')))
  const app = await upgradeApp(t, { targets: { pool: { path: paths, balance: 'round-robin' } } }, 'pool')
  await linksReady(app.sender, 'pool')
  const served: number[] = []
  for (let i = 0; i < 4; i++) served.push((await offerRaw(app.port, `/rr/${i}`)).info.pid)
  t.same(served, [a.pid, b.pid, a.pid, b.pid], 'round robin')
  await closeAll(t, app, [a, b])
})

t.test('a receiver at its maxConnections says REJECT "capacity" (retryable): the handoff goes to the next receiver', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const a = await startSibling(t, { path: paths[0], maxConnections: 1 }, 'raw')
  const b = await startSibling(t, { path: paths[1] }, 'raw')
  const app = await upgradeApp(t, { targets: { pool: { path: paths, balance: 'round-robin' } } }, 'pool')
  await linksReady(app.sender, 'pool')
  const held = await openRaw(app.port, '/held')
  t.equal(held.info.pid, a.pid, 'A takes the first one, and is full')
  const first = await offerRaw(app.port, '/next/1')
  const second = await offerRaw(app.port, '/next/2')
  t.same([first.info.pid, second.info.pid], [b.pid, b.pid], 'both land on B')
  const refusal = await a.event('reject')
  t.match(refusal.reject, { reason: 'capacity', retryable: true }, 'A said capacity (retryable)')
  t.equal((await a.request('stats')).stats.rejected, 1, 'A was offered only the one it could not take')
  t.match(app.results.slice(1), [{ handedOff: true, outcome: 'accepted' }, { handedOff: true, outcome: 'accepted' }])
  held.client.socket.end()
  await held.client.closed
  await closeAll(t, app, [a, b])
})

t.test('a final REJECT ("unknown-target") is answered 503 and not offered to the other receiver', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map(async (p) => await startSibling(t, { path: p, targets: ['elsewhere'] }, 'raw')))
  const app = await upgradeApp(t, { targets: { pool: { path: paths } } }, 'pool')
  await linksReady(app.sender, 'pool')
  const refused = await offerRaw(app.port, '/final')
  t.equal(refused.status, 503, 'a final REJECT is answered 503 by the web app')
  const [result] = await app.settled(1)
  t.equal(result.outcome, 'rejected')
  t.match(result.error, { code: 'ERR_HANDOFF_REJECTED', reason: 'unknown-target', retryable: false })
  // Counted before the REJECT was written, so before the 503 could be: no race with the receivers' events.
  const rejected = await Promise.all([a, b].map(async (r) => (await r.request('stats')).stats.rejected as number))
  t.equal(rejected[0] + rejected[1], 1, 'offered to one receiver only')
  await app.sender.close()
  await Promise.all([a.event('peerClose'), b.event('peerClose')])
  await stopChild(t, a)
  await stopChild(t, b)
})

t.test('least connections, from the load the real receivers report (ACCEPT, then STATUS as connections close)', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map(async (p) => await startSibling(t, { path: p }, 'raw')))
  const app = await upgradeApp(t, { targets: { pool: { path: paths, balance: 'least-connections' } } }, 'pool')
  await linksReady(app.sender, 'pool')
  const [linkA, linkB] = app.sender.target('pool').links
  // Equal loads alternate (the round-robin order breaks ties): two each.
  const open: Offered[] = []
  for (let i = 0; i < 4; i++) open.push(await openRaw(app.port, `/lc/${i}`))
  t.same(open.map((o) => o.info.pid), [a.pid, b.pid, a.pid, b.pid], 'equal loads: in turn')
  t.same([linkA.load.live, linkB.load.live], [2, 2], 'each ACCEPT carried its receiver\'s load')
  // A's two connections end: A reports it (STATUS), and gets the next two.
  for (const o of open.filter((o) => o.info.pid === a.pid)) o.client.socket.end()
  await linkLoad(linkA, 0)
  const next = [await openRaw(app.port, '/lc/after/1'), await openRaw(app.port, '/lc/after/2')]
  t.same(next.map((o) => o.info.pid), [a.pid, a.pid], 'A reports fewer connections: A gets both (round robin would give B one)')
  const health = app.sender.health().pool
  t.equal(health.healthy, true)
  t.same(health.receivers.map((r) => [r.state, r.live]), [['ready', 2], ['ready', 2]])
  for (const o of [...open, ...next]) o.client.socket.end()
  await Promise.all([...open, ...next].map((o) => o.client.closed))
  await closeAll(t, app, [a, b])
})

t.test('a handed-off connection closes: the sender hears live 0 at once, with no other traffic to wake the receiver', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  // A receiver with no timer of its own due during the test: without V8's
  // memory reducer (a GC task a few seconds after start) and with a HELLO
  // timeout longer than the test (its cleared timer still wakes the loop
  // once), so that nothing but the close can bring its STATUS out.
  const receiver = forkFixture('receiver-raw.js', { path: sockPath, helloTimeout: 600000 }, 'receiver(raw)', t, ['--no-memory-reducer'])
  await receiver.event('ready')
  const app = await upgradeApp(t, { targets: { pool: sockPath } }, 'pool')
  await linksReady(app.sender, 'pool')
  await receiver.event('peer')
  const receiverFds = receiver.fds()
  const [link] = app.sender.target('pool').links

  const client = rawClient(app.port)
  await client.connected
  client.socket.write('GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: test-protocol\r\nConnection: Upgrade\r\n\r\n')
  await client.waitFor((data) => data.includes('\n'))
  await linkLoad(link, 1)
  t.equal(app.sender.health().pool.receivers[0].live, 1, 'the ACCEPT said 1')
  // The client leaves; nothing else talks to the receiver (no IPC, no other
  // sender): its STATUS must not wait for an unrelated wakeup.
  client.socket.end()
  await client.ended
  await client.closed
  await linkLoad(link, 0)
  t.equal(app.sender.health().pool.receivers[0].live, 0, 'health() shows the receiver idle again')
  t.equal((await receiver.request('stats')).stats.live, 0)
  t.equal(receiver.fds(), receiverFds)
  await app.sender.close()
  await receiver.event('peerClose')
  await stopChild(t, receiver, 'close')
})

t.test('a real receiver is killed and restarted: the link reconnects and handoffs resume', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const first: Child = await startSibling(t, { path: sockPath }, 'raw')
  const app = await upgradeApp(t, { targets: { pool: { path: sockPath, reconnect: { min: 20, max: 200 } } } }, 'pool')
  await linksReady(app.sender, 'pool')
  t.equal((await offerRaw(app.port, '/before')).info.pid, first.pid)
  const link = app.sender.target('pool').links[0]
  const down = new Promise<void>((resolve) => link.once('down', () => resolve()))
  first.kill()
  await first.exited
  await down
  t.equal(app.sender.health().pool.healthy, false, 'unhealthy while it is gone')
  t.equal((await offerRaw(app.port, '/meanwhile')).status, 503, 'meanwhile: 503')
  const reconnected = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  const second = await startSibling(t, { path: sockPath }, 'raw') // the stale socket file is replaced
  await reconnected
  await second.event('peer')
  t.equal(app.sender.health().pool.healthy, true)
  t.equal((await offerRaw(app.port, '/after')).info.pid, second.pid, 'served by the new receiver')
  await closeAll(t, app, [second])
})
