// The Express adapter: the same upgrade test as the Fastify plugin's (the
// app's middleware runs first; a ws client and a raw client reach the
// sibling), plus an SSE response handed off by middleware.
import t, { type Test } from 'tap'
import http from 'node:http'
import path from 'node:path'
import express from 'express'
import { expressHandoff, upgradeOf, type ExpressHandoff } from '../../plugin/adapters/express.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  KeepAliveClient, WsClient, clientFrame, parseResponse, rawClient, serverFrames, sseEvents, startSibling, stopChild,
  tmpDir, upgradeRequest, type Child
} from '../sender/helpers.js'

interface Setup {
  server: http.Server
  handoff: ExpressHandoff
  port: number
  sibling: Child | null
  seen: string[]
}

async function setup (t: Test, receiverUp = true): Promise<Setup> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = receiverUp ? await startSibling(t, { path: sockPath }) : null
  const handoff = expressHandoff({ sender: { targets: { chat: { path: sockPath, retryAfter: 4, timeout: 600000 } } } })
  const seen: string[] = []
  const app = express()
  // The app's own middleware: authentication fills the context.
  app.use((req, res, next) => {
    seen.push(req.url)
    if (req.headers.authorization !== 'Bearer frank') {
      res.status(401).json({ error: 'unauthorized' })
      return
    }
    res.locals.handoffContext = { user: 'frank', via: 'express' }
    next()
  })
  app.get('/ws', handoff.upgrade('chat'), (req, res) => { res.json({ pid: process.pid, local: true }) })
  app.get('/sse', handoff.response('chat', { laterRequests: 'sibling' }))
  // fallback 'local' (as on a Fastify route), and its 0.1 name 'next': the next handler serves the upgrade here.
  const servedHere = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const up = upgradeOf(req)
    if (up === null) res.end('not an upgrade')
    else up.socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${req.url?.length ?? 0}\r\nConnection: close\r\n\r\n${req.url ?? ''}`)
  }
  app.get('/ws-local', handoff.upgrade('chat', { fallback: 'local' }), servedHere)
  app.get('/ws-next', handoff.upgrade('chat', { fallback: 'next' }), servedHere)
  app.get('/plain', (req, res) => { res.json({ pid: process.pid, local: true }) })
  const server = http.createServer(app)
  handoff.attach(server, app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  if (receiverUp) await handoff.sender.ready('chat')
  t.teardown(async () => {
    await handoff.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { server, handoff, port: (server.address() as { port: number }).port, sibling, seen }
}

async function shutdown (t: Test, s: Setup): Promise<void> {
  await s.handoff.close()
  s.server.closeIdleConnections()
  await new Promise<void>((resolve) => s.server.close(() => resolve()))
  if (s.sibling !== null) await stopChild(t, s.sibling)
}

t.test('Express: a WebSocket reaches the sibling after the app\'s middleware; a raw client\'s early frames arrive', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t)
  const sibling = s.sibling as Child
  const { port } = s
  await sibling.event('peer')
  const siblingFds = sibling.fds()
  t.equal(s.server.listenerCount('upgrade'), 1, 'one upgrade listener')

  const ws = new WsClient(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer frank' } })
  await ws.opened
  const hello = await ws.nextJson()
  t.equal(hello.pid, sibling.pid, '101 and messages from the sibling')
  t.same(hello.info.context, { user: 'frank', via: 'express' }, 'the context the middleware set')
  t.equal(hello.info.remotePort, ws.localPort)
  ws.send('one')
  t.equal(await ws.next(), 'one')

  const raw = rawClient(port)
  await raw.connected
  raw.socket.write(Buffer.concat([Buffer.from(upgradeRequest('/ws', port, 'Authorization: Bearer frank\r\n').text),
    clientFrame(1, 'early-1'), clientFrame(1, 'early-2')]))
  const data = await raw.waitFor((d) => serverFrames(d).length >= 3)
  const frames = serverFrames(data)
  t.equal(JSON.parse(frames[0].payload.toString()).pid, sibling.pid)
  t.same(frames.slice(1).map((f) => f.payload.toString()), ['early-1', 'early-2'], 'every byte of the upgrade packet arrived')

  const denied = new WsClient(`ws://127.0.0.1:${port}/ws`)
  await t.rejects(denied.opened, { statusCode: 401 }, 'the middleware\'s 401 ends it')
  await denied.closed
  const nowhere = new WsClient(`ws://127.0.0.1:${port}/nowhere`, { headers: { authorization: 'Bearer frank' } })
  await t.rejects(nowhere.opened, { statusCode: 404 }, 'an upgrade to another route gets the app\'s own answer')
  await nowhere.closed
  const plain = await fetch(`http://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer frank' } })
  t.same(await plain.json(), { pid: process.pid, local: true }, 'an ordinary GET on the route goes on to its handler')
  t.same(s.seen, ['/ws', '/ws', '/ws', '/nowhere', '/ws'], 'the middleware ran once per request')
  t.equal((await sibling.request('stats')).stats.total, 2)

  ws.ws.close()
  raw.socket.destroy()
  await Promise.all([ws.closed, raw.closed])
  await sibling.request('idle')
  t.equal(sibling.fds(), siblingFds, 'the sibling released every connection\'s descriptor')
  await shutdown(t, s)
})

t.test('Express: SSE handed off by middleware with laterRequests: \'sibling\': the keep-alive connection stays with the sibling', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t)
  const sibling = s.sibling as Child
  const client = new KeepAliveClient(s.port)
  await client.raw.connected
  const sse = await client.get('/sse', 'Authorization: Bearer frank\r\n')
  const first = JSON.parse(sseEvents(sse.body)[0])
  t.equal(first.pid, sibling.pid)
  t.same(first.info.context, { user: 'frank', via: 'express' })
  const next = await client.get('/plain')
  t.equal(JSON.parse(next.body).pid, sibling.pid, 'the next request is the sibling\'s')
  t.equal(JSON.parse(next.body).info.requestNumber, 2, 'a later request, numbered as such')
  await client.close()
  await sibling.request('idle')
  await shutdown(t, s)
})

t.test('Express: receiver down: 503 with Retry-After, without waiting for a verdict (the timeout is ten minutes)', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t, false)
  const raw = rawClient(s.port)
  await raw.connected
  raw.socket.write(upgradeRequest('/ws', s.port, 'Authorization: Bearer frank\r\n').text)
  const answer = parseResponse(await raw.ended)
  t.equal(answer?.status, 503)
  t.equal(answer?.headers['retry-after'], '4')
  raw.socket.destroy()
  await raw.closed
  await shutdown(t, s)
})

t.test('Express: receiver down, fallback \'local\' (or its 0.1 name \'next\'): the next handler serves the upgrade here', async (t) => {
  checkFdLeaks(t)
  const s = await setup(t, false)
  for (const url of ['/ws-local', '/ws-next']) {
    const raw = rawClient(s.port)
    await raw.connected
    raw.socket.write(upgradeRequest(url, s.port, 'Authorization: Bearer frank\r\n').text)
    const answer = parseResponse(await raw.ended)
    t.equal(answer?.status, 200, `${url}: answered here`)
    t.equal(answer?.body, url, `${url}: by the route's next handler`)
    raw.socket.destroy()
    await raw.closed
  }
  await shutdown(t, s)
})
