// Connections the sender does not send, with the reason as a typed error and
// the client still answered by this process (never by two): an unknown
// target, a context that is not JSON, a head over the protocol's limit, and
// a second handoff of a connection already on its way (which touches nothing).
// The receiver is the library's own (test/fixtures/receiver-raw.js: it
// answers each connection with a line of JSON, then echoes it).
import t, { type Test } from 'tap'
import http from 'node:http'
import net, { connect as netConnect } from 'node:net'
import path from 'node:path'
import { Sender, type HandoffResult, type UpgradeHandoffOptions } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  KeepAliveClient, clockPast, nextSend, parseResponse, rawClient, startSibling, stopChild, tmpDir, type Child
} from './helpers.js'

/** HANDOFFs that reached the receiver (each is accepted or rejected there). */
async function handoffsSeen (receiver: Child): Promise<number> {
  const { stats } = await receiver.request('stats')
  return stats.total + stats.rejected
}

/** The end of a refusal: no HANDOFF reached the receiver; then the sender and the receiver close. */
async function nothingReached (t: Test, sibling: Child, sender: Sender): Promise<void> {
  t.equal(await handoffsSeen(sibling), 0, 'nothing reached the receiver')
  await sender.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling)
}

async function setup (t: Test, handle: (sender: Sender, req: http.IncomingMessage, socket: net.Socket, head: Buffer) => Promise<HandoffResult[]>): Promise<{ port: number, sibling: Child, sender: Sender, results: Promise<HandoffResult[]> }> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const sender = new Sender({ targets: { chat: sockPath } })
  let resolve: (r: HandoffResult[]) => void = () => {}
  const results = new Promise<HandoffResult[]>((_resolve) => { resolve = _resolve })
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void handle(sender, req, socket, head).then(resolve)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  await sibling.event('peer')
  await sender.ready('chat')
  return { port: (server.address() as { port: number }).port, sibling, sender, results }
}

async function upgrade (port: number, extraHeaders = ''): Promise<ReturnType<typeof parseResponse>> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(`GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n${extraHeaders}\r\n`)
  const answer = await client.ended
  client.socket.destroy()
  await client.closed
  return parseResponse(answer)
}

const cases: Array<[string, UpgradeHandoffOptions, string, string]> = [
  ['an unknown target', { target: 'nowhere' }, 'ERR_HANDOFF_UNKNOWN_TARGET', 'refused'],
  ['a context that is not JSON', { target: 'chat', context: { n: 10n } }, 'ERR_HANDOFF_INVALID_ARG', 'unsent']
]
for (const [what, options, code, outcome] of cases) {
  t.test(`${what}: ${code}, 503 from here`, async (t) => {
    checkFdLeaks(t)
    const { port, sibling, sender, results } = await setup(t, async (sender, req, socket, head) =>
      [await sender.handoffUpgrade(req, socket, head, options)])
    const answer = await upgrade(port)
    t.equal(answer?.status, 503)
    const [result] = await results
    t.equal(result.outcome, outcome)
    t.equal(result.fallback, 'unavailable')
    t.match(result.error, { code })
    await nothingReached(t, sibling, sender)
  })
}

t.test('a request head over 64 KiB does not fit in a HANDOFF: ERR_HANDOFF_TOO_LARGE, 503 from here', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await setup(t, async (sender, req, socket, head) =>
    [await sender.handoffUpgrade(req, socket, head, { target: 'chat' })])
  const answer = await upgrade(port, `X-Big: ${'b'.repeat(70 * 1024)}\r\n`)
  t.equal(answer?.status, 503)
  const [result] = await results
  t.equal(result.outcome, 'unsent')
  t.match(result.error, { code: 'ERR_HANDOFF_TOO_LARGE' })
  await nothingReached(t, sibling, sender)
})

t.test('a second handoff of a connection on its way is refused and touches nothing; the first one serves it', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await setup(t, async (sender, req, socket, head) => Promise.all([
    sender.handoffUpgrade(req, socket, head, { target: 'chat' }),
    sender.handoffUpgrade(req, socket, head, { target: 'chat' })
  ]))
  const client = rawClient(port)
  await client.connected
  const head = 'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'
  client.socket.write(head)
  const line = await client.waitFor((d) => d.includes('\n'))
  const info = JSON.parse(line.subarray(0, line.indexOf('\n')).toString())
  t.equal(info.pid, sibling.pid, 'served by the receiver')
  client.socket.end()
  const received = (await client.ended).toString('latin1')
  await client.closed
  t.equal(received, `${line.subarray(0, line.indexOf('\n') + 1).toString('latin1')}${head}`,
    'the client got the receiver\'s answer (its line, then the echo of the head), and only that')
  const [first, second] = await results
  t.equal(first.handedOff, true)
  t.equal(second.handedOff, false)
  t.match(second, { outcome: 'refused', fallback: 'none', error: { code: 'ERR_HANDOFF_IN_PROGRESS' } })
  await sibling.request('idle')
  t.equal(await handoffsSeen(sibling), 1, 'one HANDOFF')
  await sender.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling)
})

t.test('a connection that is not TCP (a server on a Unix socket): ERR_HANDOFF_NOT_TCP, 503 from here', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const sender = new Sender({ targets: { chat: sockPath } })
  const results: HandoffResult[] = []
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void sender.handoffUpgrade(req, socket, head, { target: 'chat' }).then((r) => results.push(r))
  })
  const webPath = path.join(dir, 'web.sock')
  await new Promise<void>((resolve) => server.listen(webPath, resolve))
  await sibling.event('peer')
  await sender.ready('chat')
  const client = netConnect(webPath)
  client.write('GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
  const chunks: Buffer[] = []
  client.on('data', (c: Buffer) => chunks.push(c))
  await new Promise((resolve) => client.on('close', resolve))
  t.equal(parseResponse(Buffer.concat(chunks))?.status, 503)
  t.equal(results.length, 1)
  t.match(results[0], { outcome: 'refused', fallback: 'unavailable', error: { code: 'ERR_HANDOFF_NOT_TCP' } })
  t.match(results[0].error?.message, /unix stream socket/)
  t.equal(await handoffsSeen(sibling), 0, 'nothing reached the receiver')
  await sender.close()
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await sibling.event('peerClose')
  await stopChild(t, sibling)
})

t.test('a connection paused and resumed while its handoff is in flight reads again after a REJECT: the next request on it is served', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  // The receiver decides after the HANDOFF's deadline, so it must say REJECT
  // "expired": it is frozen until the deadline has passed. The grace is long,
  // so the verdict, not the sender's own timeout, ends the handoff.
  const timeout = 1000
  const sender = new Sender({ targets: { chat: { path: sockPath, timeout, grace: 600000 } } })
  const results: HandoffResult[] = []
  let inFlight: net.Socket | null = null
  const server = http.createServer((req, res) => {
    if (req.url !== '/stream') {
      res.end('plain')
      return
    }
    inFlight = req.socket
    void sender.handoffRequest(req, res, { target: 'chat', fallback: () => { res.end('local') } }).then((r) => results.push(r))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  await sibling.event('peer')
  await sender.ready('chat')
  sibling.proc.kill('SIGSTOP')
  const sent = nextSend(sender.target('chat').links[0])
  const client = new KeepAliveClient((server.address() as { port: number }).port)
  const first = client.get('/stream')
  const sentBy = await sent
  // Detached and sent. The app pauses and resumes the socket meanwhile:
  // Node's HTTP server marks the handle as reading, though nothing reads.
  const socket = inFlight as unknown as net.Socket
  socket.pause()
  socket.resume()
  await clockPast(sentBy + timeout)
  sibling.proc.kill('SIGCONT')
  t.match((await sibling.event('reject')).reject, { reason: 'expired', retryable: false }, 'the receiver refused it: past its deadline')
  t.match(await first, { status: 200, body: 'local' }, 'rejected: the local fallback answered')
  t.match(results, [{ handedOff: false, outcome: 'rejected', fallback: 'local' }])
  t.match(await client.get('/next'), { status: 200, body: 'plain' }, 'the connection reads again: the next request is served')
  await client.close()
  await sender.close()
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await sibling.event('peerClose')
  await stopChild(t, sibling)
})

/** A node:http app whose `handle` decides what to do with each request, and the sender it uses. */
async function requestApp (t: Test, handle: (sender: Sender, req: http.IncomingMessage, res: http.ServerResponse) => Promise<HandoffResult>):
Promise<{ port: number, sibling: Child, sender: Sender, results: (count: number) => Promise<HandoffResult[]> }> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const sender = new Sender({ targets: { chat: sockPath } })
  const results: HandoffResult[] = []
  let waiters: Array<() => void> = []
  const server = http.createServer((req, res) => {
    void handle(sender, req, res).then((r) => {
      results.push(r)
      const w = waiters
      waiters = []
      for (const wake of w) wake()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  await sibling.event('peer')
  await sender.ready('chat')
  const settled = async (count: number): Promise<HandoffResult[]> => {
    while (results.length < count) await new Promise<void>((resolve) => waiters.push(resolve))
    return results
  }
  return { port: (server.address() as { port: number }).port, sibling, sender, results: settled }
}

t.test('a response already started: ERR_HANDOFF_RESPONSE_STARTED, and the app\'s own response goes on', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await requestApp(t, async (sender, req, res) => {
    if (req.url === '/before') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' })
      return await sender.handoffRequest(req, res, { target: 'chat', fallback: () => { res.end('before') } })
    }
    // Started while the handoff was being prepared (in the same tick as the call).
    const pending = sender.handoffRequest(req, res, { target: 'chat' })
    res.end('meanwhile')
    return await pending
  })
  const client = new KeepAliveClient(port)
  t.match(await client.get('/before'), { status: 200, body: 'before' }, 'started before the call')
  t.match(await client.get('/meanwhile'), { status: 200, body: 'meanwhile' }, 'started meanwhile')
  t.match(await client.get('/before'), { status: 200, body: 'before' }, 'the connection still reads: the next request is served here')
  await client.close()
  for (const result of await results(3)) t.match(result, { handedOff: false, outcome: 'refused', error: { code: 'ERR_HANDOFF_RESPONSE_STARTED' } })
  await nothingReached(t, sibling, sender)
})

t.test('a client gone while its handoff is prepared: ERR_HANDOFF_SOCKET_GONE, nothing sent', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await requestApp(t, async (sender, req, res) => {
    const pending = sender.handoffRequest(req, res, { target: 'chat' })
    req.socket.destroy()
    return await pending
  })
  const client = rawClient(port)
  client.socket.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal((await client.ended).length, 0, 'the client got nothing')
  await client.closed
  const [result] = await results(1)
  t.match(result, { handedOff: false, outcome: 'refused', error: { code: 'ERR_HANDOFF_SOCKET_GONE' } })
  await nothingReached(t, sibling, sender)
})

t.test('a sender closed: ERR_HANDOFF_SENDER_CLOSED (outcome "closed"), 503 from here', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await setup(t, async (sender, req, socket, head) =>
    [await sender.handoffUpgrade(req, socket, head, { target: 'chat' })])
  await sender.close()
  await sibling.event('peerClose')
  const answer = await upgrade(port)
  t.equal(answer?.status, 503)
  const [result] = await results
  t.match(result, { handedOff: false, outcome: 'closed', fallback: 'unavailable', error: { code: 'ERR_HANDOFF_SENDER_CLOSED' } })
  t.equal(await handoffsSeen(sibling), 0, 'nothing reached the receiver')
  await stopChild(t, sibling)
})
