// The framework-free sender against real receiver processes: many handoffs in
// flight on one channel (verdicts out of order), pools (round robin, least
// connections from what receivers report, a retryable REJECT offered to the
// next receiver, a final one not), and reconnecting when a receiver restarts.
import t, { type Test } from 'tap'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { Sender, type HandoffResult, type SenderOptions } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { forkFixture } from '../helpers/child.js'
import { parseResponse, rawClient, startFaulty, stopChild, tmpDir, type Child } from './helpers.js'

interface App {
  sender: Sender
  port: number
  results: HandoffResult[]
}

/** A node:http server whose every upgrade goes to target "pool". */
async function webApp (t: Test, options: SenderOptions): Promise<App> {
  const sender = new Sender(options)
  const results: HandoffResult[] = []
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void sender.handoffUpgrade(req, socket, head, { target: 'pool', context: { url: req.url } }).then((r) => results.push(r))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { sender, port: (server.address() as { port: number }).port, results }
}

/** A raw upgrade (not WebSocket: the faulty receiver answers it with JSON naming itself). */
async function offer (port: number, pathname: string): Promise<{ status: number, body: any }> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(`GET ${pathname} HTTP/1.1\r\nHost: x\r\nUpgrade: test-protocol\r\nConnection: Upgrade\r\n\r\n`)
  const answer = parseResponse(await client.ended)
  client.socket.destroy()
  await client.closed
  if (answer === null) throw new Error('no answer')
  return { status: answer.status, body: answer.status === 200 ? JSON.parse(answer.body) : answer.body }
}

type Link = ReturnType<Sender['target']>['links'][number]

/** Resolves once `link` says its receiver serves `live` connections (its 'load' event: STATUS, ACCEPT), within a generous limit. */
function loaded (link: Link, live: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.removeListener('load', check)
      reject(new Error(`${link.label}: no load report of live ${live} within 20000 ms (last: ${JSON.stringify(link.load)})`))
    }, 20000)
    function check (): void {
      if (link.load.live !== live) return
      clearTimeout(timer)
      link.removeListener('load', check)
      resolve()
    }
    link.on('load', check)
    check()
  })
}

async function ready (sender: Sender, receivers: number): Promise<void> {
  const links = sender.target('pool').links
  await Promise.all(links.slice(0, receivers).map((link) => new Promise<void>((resolve) => {
    if (link.usable) resolve()
    else link.once('ready', () => resolve())
  })))
}

t.test('many handoffs in flight on one channel, verdicts in any order, each settles its own connection', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const count = 24
  const receiver = await startFaulty(t, { path: sockPath, mode: 'batch', count } as { path: string })
  const app = await webApp(t, { targets: { pool: sockPath } })
  await ready(app.sender, 1)
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => offer(app.port, `/client/${i}`)))
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

t.test('a pool: round robin; a retryable REJECT goes to the next receiver, a final one does not', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map((p) => startFaulty(t, { path: p })))
  const app = await webApp(t, { targets: { pool: { path: paths, balance: 'round-robin' } } })
  await ready(app.sender, 2)

  const served: number[] = []
  for (let i = 0; i < 4; i++) served.push((await offer(app.port, `/rr/${i}`)).body.servedBy)
  t.same(served, [a.pid, b.pid, a.pid, b.pid], 'round robin')

  await a.request('mode', { mode: 'reject', reason: 'capacity', retryable: true })
  const first = await offer(app.port, '/retry/1')
  const second = await offer(app.port, '/retry/2')
  t.same([first.body.servedBy, second.body.servedBy], [b.pid, b.pid], 'A is full: both land on B')
  t.equal(a.seen('verdict').filter((v) => v.reason === 'capacity').length >= 1, true, 'A said capacity (retryable)')

  await a.request('mode', { mode: 'reject', reason: 'unauthorized', retryable: false })
  await b.request('mode', { mode: 'reject', reason: 'unauthorized', retryable: false })
  const refused = await offer(app.port, '/final')
  t.equal(refused.status, 503, 'a final REJECT is answered 503')
  const last = app.results[app.results.length - 1]
  t.equal(last.outcome, 'rejected')
  t.match(last.error, { code: 'ERR_HANDOFF_REJECTED', reason: 'unauthorized', retryable: false })
  const offered = [...a.seen('handoff'), ...b.seen('handoff')].filter((h) => h.head.startsWith('GET /final '))
  t.equal(offered.length, 1, 'and not offered to the other receiver')
  await app.sender.close()
  await Promise.all([a.event('peerClose'), b.event('peerClose')])
  await stopChild(t, a, 'exit')
  await stopChild(t, b, 'exit')
})

t.test('least connections, from what the receivers report', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map((p) => startFaulty(t, { path: p })))
  const app = await webApp(t, { targets: { pool: { path: paths, balance: 'least-connections' } } })
  await ready(app.sender, 2)
  // Each receiver reports its load once it has our HELLO: wait for that first report.
  await Promise.all([a.event('peer'), b.event('peer')])
  const [linkA, linkB] = app.sender.target('pool').links
  await a.request('status', { live: 10, max: 100 })
  await b.request('status', { live: 2, max: 100 })
  await Promise.all([loaded(linkA, 10), loaded(linkB, 2)])
  const served = []
  for (let i = 0; i < 3; i++) served.push((await offer(app.port, `/lc/${i}`)).body.servedBy)
  t.same(served, [b.pid, b.pid, b.pid], 'B reports fewer connections: B gets them')
  t.equal(linkB.load.live, 5, 'each ACCEPT updates the load')
  await a.request('status', { live: 0, max: 100 })
  await loaded(linkA, 0)
  t.equal((await offer(app.port, '/lc/after')).body.servedBy, a.pid, 'then A, once it reports fewer')
  const health = app.sender.health().pool
  t.equal(health.healthy, true)
  t.same(health.receivers.map((r) => [r.state, r.live]), [['ready', 1], ['ready', 5]])
  await app.sender.close()
  await Promise.all([a.event('peerClose'), b.event('peerClose')])
  await stopChild(t, a, 'exit')
  await stopChild(t, b, 'exit')
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
  const app = await webApp(t, { targets: { pool: sockPath } })
  await ready(app.sender, 1)
  await receiver.event('peer')
  const receiverFds = receiver.fds()
  const [link] = app.sender.target('pool').links

  const client = rawClient(app.port)
  await client.connected
  client.socket.write('GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: test-protocol\r\nConnection: Upgrade\r\n\r\n')
  await client.waitFor((data) => data.includes('\n'))
  await loaded(link, 1)
  t.equal(app.sender.health().pool.receivers[0].live, 1, 'the ACCEPT said 1')
  // The client leaves; nothing else talks to the receiver (no IPC, no other
  // sender): its STATUS must not wait for an unrelated wakeup.
  client.socket.end()
  await client.ended
  await client.closed
  await loaded(link, 0)
  t.equal(app.sender.health().pool.receivers[0].live, 0, 'health() shows the receiver idle again')
  t.equal((await receiver.request('stats')).stats.live, 0)
  t.equal(receiver.fds(), receiverFds)
  await app.sender.close()
  await receiver.event('peerClose')
  await stopChild(t, receiver, 'close')
})

t.test('a receiver restarts: the link reconnects with backoff and handoffs resume', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const first: Child = await startFaulty(t, { path: sockPath })
  const app = await webApp(t, { targets: { pool: { path: sockPath, reconnect: { min: 20, max: 200 } } } })
  await ready(app.sender, 1)
  t.equal((await offer(app.port, '/before')).body.servedBy, first.pid)
  const link = app.sender.target('pool').links[0]
  const down = new Promise<void>((resolve) => link.once('down', () => resolve()))
  first.kill()
  await first.exited
  await down
  t.equal(app.sender.health().pool.healthy, false, 'unhealthy while it is gone')
  t.equal((await offer(app.port, '/meanwhile')).status, 503, 'meanwhile: 503')
  const reconnected = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  const second = await startFaulty(t, { path: sockPath }) // the stale socket file is replaced
  await reconnected
  await second.event('peer')
  t.equal(app.sender.health().pool.healthy, true)
  t.equal((await offer(app.port, '/after')).body.servedBy, second.pid, 'served by the new receiver')
  await app.sender.close()
  await second.event('peerClose')
  await stopChild(t, second, 'exit')
})
