// The node:http adapter: the same upgrade test as the Fastify plugin's (a ws
// client and a raw client reach the sibling; the app's decision runs first),
// plus an SSE response handed off with handoffResponse().
import t, { type Test } from 'tap'
import http from 'node:http'
import path from 'node:path'
import { WebSocketServer } from 'ws'
import { handoffUpgrades, handoffResponse, type UpgradeHandoff } from '../../plugin/adapters/http.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  KeepAliveClient, WsClient, clientFrame, parseResponse, rawClient, serverFrames, sseEvents, startSibling, stopChild,
  tmpDir, upgradeRequest, type Child
} from '../sender/helpers.js'

interface Setup {
  server: http.Server
  handoff: UpgradeHandoff
  port: number
  sibling: Child
  decisions: string[]
}

async function setup (t: Test, receiverUp = true): Promise<Setup> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = receiverUp ? await startSibling(t, { path: sockPath }) : (null as unknown as Child)
  const decisions: string[] = []
  const local = new WebSocketServer({ noServer: true })
  local.on('connection', (ws) => ws.send(JSON.stringify({ pid: process.pid, local: true })))
  const server = http.createServer((req, res) => {
    if (req.url === '/sse') {
      void handoffResponse(handoff.sender, req, res, { target: 'chat', context: { user: 'erin', via: 'node:http' }, laterRequests: 'sibling' })
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ pid: process.pid, local: true }))
  })
  const handoff: UpgradeHandoff = handoffUpgrades(server, {
    sender: { targets: { chat: { path: sockPath, retryAfter: 3, timeout: 600000 } } },
    // The app's own checks: authentication, then routing.
    route: async (req) => {
      decisions.push(req.url ?? '')
      if (req.headers.authorization !== 'Bearer erin') return { status: 401, body: 'who are you?\n' }
      if (req.url === '/ws') return { target: 'chat', context: { user: 'erin', via: 'node:http' } }
      return null
    },
    otherwise: (req, socket, head) => local.handleUpgrade(req, socket, head, (ws) => local.emit('connection', ws, req))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  if (receiverUp) await handoff.sender.ready('chat')
  t.teardown(async () => {
    for (const ws of local.clients) ws.terminate()
    await handoff.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { server, handoff, port: (server.address() as { port: number }).port, sibling, decisions }
}

async function shutdown (t: Test, s: Setup): Promise<void> {
  await s.handoff.close()
  await new Promise<void>((resolve) => s.server.close(() => resolve()))
  if (s.sibling !== null) await stopChild(t, s.sibling)
}

t.test('node:http: a WebSocket reaches the sibling after the app\'s decision; a raw client\'s early frames arrive', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t)
  const { port, sibling } = s
  await sibling.event('peer') // the app's channel is up: count from here
  const siblingFds = sibling.fds()
  t.equal(s.server.listenerCount('upgrade'), 1, 'one upgrade listener')

  const ws = new WsClient(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer erin' } })
  await ws.opened
  const hello = await ws.nextJson()
  t.equal(hello.pid, sibling.pid, '101 and messages from the sibling')
  t.same(hello.info.context, { user: 'erin', via: 'node:http' })
  t.equal(hello.info.remotePort, ws.localPort, 'the client\'s own connection')
  ws.send('one')
  t.equal(await ws.next(), 'one')

  const raw = rawClient(port)
  await raw.connected
  raw.socket.write(Buffer.concat([Buffer.from(upgradeRequest('/ws', port, 'Authorization: Bearer erin\r\n').text),
    clientFrame(1, 'early-1'), clientFrame(1, 'early-2')]))
  const data = await raw.waitFor((d) => serverFrames(d).length >= 3)
  const frames = serverFrames(data)
  t.equal(JSON.parse(frames[0].payload.toString()).pid, sibling.pid)
  t.same(frames.slice(1).map((f) => f.payload.toString()), ['early-1', 'early-2'], 'every byte of the upgrade packet arrived')

  const other = new WsClient(`ws://127.0.0.1:${port}/local`, { headers: { authorization: 'Bearer erin' } })
  await other.opened
  t.same(await other.nextJson(), { pid: process.pid, local: true }, 'an upgrade the app does not claim is served here')

  const denied = new WsClient(`ws://127.0.0.1:${port}/ws`)
  await t.rejects(denied.opened, { statusCode: 401 }, 'the app\'s 401 ends it')
  await denied.closed
  t.same(s.decisions, ['/ws', '/ws', '/local', '/ws'], 'one decision per upgrade')
  t.equal((await sibling.request('stats')).stats.total, 2, 'exactly the two claimed upgrades were handed off')

  ws.ws.close()
  other.ws.close()
  raw.socket.destroy()
  await Promise.all([ws.closed, other.closed, raw.closed])
  await sibling.request('idle')
  t.equal(sibling.fds(), siblingFds, 'the sibling released every connection\'s descriptor')
  await shutdown(t, s)
})

t.test('node:http: SSE handed off with handoffResponse and laterRequests: \'sibling\': the keep-alive connection stays with the sibling', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t)
  const client = new KeepAliveClient(s.port)
  await client.raw.connected
  const sse = await client.get('/sse')
  const first = JSON.parse(sseEvents(sse.body)[0])
  t.equal(first.pid, s.sibling.pid)
  t.same(first.info.context, { user: 'erin', via: 'node:http' })
  t.equal(first.info.requestNumber, 1)
  const next = await client.get('/plain')
  t.equal(JSON.parse(next.body).pid, s.sibling.pid)
  t.equal(JSON.parse(next.body).info.requestNumber, 2, 'a later request, numbered as such')
  await client.close()
  await s.sibling.request('idle')
  await shutdown(t, s)
})

t.test('node:http: receiver down: 503 with Retry-After on the raw socket, without waiting for a verdict (the timeout is ten minutes)', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t, false)
  const raw = rawClient(s.port)
  await raw.connected
  raw.socket.write(upgradeRequest('/ws', s.port, 'Authorization: Bearer erin\r\n').text)
  const answer = parseResponse(await raw.ended)
  t.equal(answer?.status, 503)
  t.equal(answer?.headers['retry-after'], '3')
  raw.socket.destroy()
  await raw.closed
  await shutdown(t, s)
})
