// Connections the sender does not send, with the reason as a typed error and
// the client still answered by this process (never by two): an unknown
// target, a context that is not JSON, a head over the protocol's limit, and
// a second handoff of a connection already on its way (which touches nothing).
import t, { type Test } from 'tap'
import http from 'node:http'
import net, { connect as netConnect } from 'node:net'
import path from 'node:path'
import { Sender, type HandoffResult, type UpgradeHandoffOptions } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { KeepAliveClient, parseResponse, rawClient, startFaulty, stopChild, tmpDir, type Child } from './helpers.js'

async function setup (t: Test, handle: (sender: Sender, req: http.IncomingMessage, socket: net.Socket, head: Buffer) => Promise<HandoffResult[]>): Promise<{ port: number, sibling: Child, sender: Sender, results: Promise<HandoffResult[]> }> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const sibling = await startFaulty(t, { path: sockPath })
  const sender = new Sender({ targets: { chat: sockPath } })
  let resolve: (r: HandoffResult[]) => void = () => {}
  const results = new Promise<HandoffResult[]>((r) => { resolve = r })
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void handle(sender, req, socket, head).then(resolve)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
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
    t.equal(sibling.seen('handoff').length, 0, 'nothing reached the receiver')
    await sender.close()
    await sibling.event('peerClose')
    await stopChild(t, sibling, 'exit')
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
  t.equal(sibling.seen('handoff').length, 0)
  await sender.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling, 'exit')
})

t.test('a second handoff of a connection on its way is refused and touches nothing; the first one serves it', async (t) => {
  checkFdLeaks(t)
  const { port, sibling, sender, results } = await setup(t, async (sender, req, socket, head) => Promise.all([
    sender.handoffUpgrade(req, socket, head, { target: 'chat' }),
    sender.handoffUpgrade(req, socket, head, { target: 'chat' })
  ]))
  const answer = await upgrade(port)
  t.equal(answer?.status, 200, 'the client got the receiver\'s answer, and only that')
  t.equal(JSON.parse(answer?.body ?? '{}').servedBy, sibling.pid)
  const [first, second] = await results
  t.equal(first.handedOff, true)
  t.equal(second.handedOff, false)
  t.match(second, { outcome: 'refused', fallback: 'none', error: { code: 'ERR_HANDOFF_IN_PROGRESS' } })
  t.equal(sibling.seen('handoff').length, 1, 'one HANDOFF')
  await sender.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling, 'exit')
})

t.test('a connection that is not TCP (a server on a Unix socket): ERR_HANDOFF_NOT_TCP, 503 from here', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const sibling = await startFaulty(t, { path: sockPath })
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
  t.equal(sibling.seen('handoff').length, 0, 'nothing reached the receiver')
  await sender.close()
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await sibling.event('peerClose')
  await stopChild(t, sibling, 'exit')
})

t.test('a connection paused and resumed while its handoff is in flight reads again after a REJECT: the next request on it is served', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startFaulty(t, { path: sockPath })
  // The receiver answers REJECT "expired" once the deadline has passed: time for the app to touch the socket.
  await sibling.request('mode', { mode: 'expire' })
  const sender = new Sender({ targets: { chat: { path: sockPath, timeout: 300 } } })
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
  const client = new KeepAliveClient((server.address() as { port: number }).port)
  const first = client.get('/stream')
  await sibling.event('handoff')
  // Detached and sent. The app pauses and resumes the socket meanwhile:
  // Node's HTTP server marks the handle as reading, though nothing reads.
  const socket = inFlight as unknown as net.Socket
  socket.pause()
  socket.resume()
  t.match(await first, { status: 200, body: 'local' }, 'rejected: the local fallback answered')
  t.match(results, [{ handedOff: false, outcome: 'rejected', fallback: 'local' }])
  t.match(await client.get('/next'), { status: 200, body: 'plain' }, 'the connection reads again: the next request is served')
  await client.close()
  await sender.close()
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await sibling.event('peerClose')
  await stopChild(t, sibling, 'exit')
})
