// reply.handoff: a long-lived response (SSE) written by the sibling, and,
// with laterRequests: 'sibling', the keep-alive connection handed off whole,
// so the sibling also serves the requests that follow on it (the default,
// which closes the connection after the response: keepalive.test.ts).
import t, { type Test } from 'tap'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  KeepAliveClient, captureLogger, parseResponse, rawClient, sseEvents, startSibling, stopChild, tmpDir, type Child, type RawClient
} from '../sender/helpers.js'

type Response = NonNullable<ReturnType<typeof parseResponse>>

/** The first two responses on a connection (to two requests pipelined in one packet). */
async function twoResponses (raw: RawClient): Promise<[Response, Response]> {
  const both = await raw.waitFor((data) => {
    const one = parseResponse(data)
    return one !== null && parseResponse(data.subarray(one.length)) !== null
  })
  const first = parseResponse(both) as Response
  return [first, parseResponse(both.subarray(first.length)) as Response]
}

async function setup (t: Test): Promise<{ app: FastifyInstance, port: number, sibling: Child, log: ReturnType<typeof captureLogger> }> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'events.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const log = captureLogger()
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { events: sockPath } })
  app.addHook('onRequest', async (request) => { request.handoffContext = { user: 'carol' } })
  // The same paths as the sibling's app, so that who answered is visible.
  app.get('/sse', (request, reply) => reply.handoff('events', { user: 'carol', topic: 'news' }, { laterRequests: 'sibling' }))
  app.post('/sse', (request, reply) => reply.handoff('events'))
  app.get('/plain', async () => ({ pid: process.pid, local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await app.handoff.ready('events')
  return { app, port: (app.server.address() as { port: number }).port, sibling, log }
}

t.test('SSE through reply.handoff streams from the sibling; with laterRequests: \'sibling\' the next request on the connection is the sibling\'s too', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling } = await setup(t)
  await sibling.event('peer') // the app's channel is up: count from here
  const siblingFds = sibling.fds()
  const client = new KeepAliveClient(port)
  await client.raw.connected

  const sse = await client.get('/sse', 'Accept: text/event-stream\r\n')
  t.equal(sse.status, 200)
  t.equal(sse.headers['content-type'], 'text/event-stream')
  const events = sseEvents(sse.body)
  t.equal(events.length, 3, 'three events')
  const first = JSON.parse(events[0])
  t.equal(first.pid, sibling.pid, 'the events come from the sibling')
  t.same(first.info.context, { user: 'carol', topic: 'news' }, 'with the context given to reply.handoff')
  t.equal(first.info.kind, 'request')
  t.equal(first.info.remotePort, client.raw.socket.localPort, 'on the client\'s own connection')
  t.same(events.slice(1), ['two', 'three'])

  const next = await client.get('/plain')
  t.equal(next.status, 200)
  const body = JSON.parse(next.body)
  t.equal(body.pid, sibling.pid, 'the keep-alive connection\'s next request is served by the sibling')
  t.equal(body.info.remotePort, client.raw.socket.localPort, 'same connection')
  t.same([first.info.requestNumber, body.info.requestNumber], [1, 2], 'told apart from the handed-off request')
  const again = await client.get('/plain')
  t.equal(JSON.parse(again.body).pid, sibling.pid, 'and the one after')
  t.equal(JSON.parse(again.body).info.requestNumber, 3)

  await client.close()
  await sibling.request('idle')
  t.equal(sibling.fds(), siblingFds, 'the sibling closed its copy when the client left')
  await app.close()
  await stopChild(t, sibling)
})

t.test('a request pipelined behind the one handed off was already read by Node\'s parser: refused, answered here', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling, log } = await setup(t)
  const raw = rawClient(port)
  await raw.connected
  // Both requests in one packet: the parser reads the second before the handler runs.
  raw.socket.write('GET /sse HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n')
  const [first, second] = await twoResponses(raw)
  t.equal(first.status, 503, 'the refused handoff is answered with 503')
  t.equal(first.headers['retry-after'], '5')
  t.equal(second.status, 200)
  t.same(JSON.parse(second.body), { pid: process.pid, local: true }, 'the pipelined request is served here, in order')
  const refusal = log.lines.find((l) => l.err?.code === 'ERR_HANDOFF_PIPELINED')
  t.ok(refusal, 'the typed refusal was logged through request.log')
  t.equal(refusal?.level, 'error')
  t.equal((await sibling.request('stats')).stats.total, 0, 'nothing was handed off')
  raw.socket.end()
  await raw.closed
  await app.close()
  await stopChild(t, sibling)
})

t.test('a handoff pipelined behind a request served here is handed off once that response is written', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling, log } = await setup(t)
  await sibling.event('peer')
  const siblingFds = sibling.fds()
  const raw = rawClient(port)
  await raw.connected
  // Both requests in one packet: the handoff's handler runs while the first response is still owed.
  raw.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\nGET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
  const [first, second] = await twoResponses(raw)
  t.equal(first.status, 200)
  t.same(JSON.parse(first.body), { pid: process.pid, local: true }, 'the first request is answered here, first')
  t.equal(second.status, 200, 'the pipelined handoff is not refused')
  const events = sseEvents(second.body)
  t.equal(JSON.parse(events[0]).pid, sibling.pid, 'its response comes from the sibling')
  t.same(JSON.parse(events[0]).info.context, { user: 'carol', topic: 'news' }, 'after the app\'s hooks and handler ran')
  t.notOk(log.lines.some((l) => l.err !== undefined), 'no refusal was logged')
  t.equal((await sibling.request('stats')).stats.total, 1, 'handed off')
  raw.socket.end()
  await raw.closed
  await sibling.request('idle')
  t.equal(sibling.fds(), siblingFds, 'the sibling closed its copy when the client left')
  await app.close()
  await stopChild(t, sibling)
})

t.test('a request with a body is refused with a typed error; the connection stays usable', async (t) => {
  checkFdLeaks(t)
  const { app, port, sibling, log } = await setup(t)
  const client = new KeepAliveClient(port)
  await client.raw.connected
  client.raw.socket.write('POST /sse HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello')
  const refused = await client.raw.waitFor((data) => parseResponse(data) !== null)
  const response = parseResponse(refused)
  t.equal(response?.status, 503)
  ;(client as unknown as { consumed: number }).consumed = response?.length ?? 0
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_REQUEST_BODY'), 'ERR_HANDOFF_REQUEST_BODY logged')
  const next = await client.get('/plain')
  t.same(JSON.parse(next.body), { pid: process.pid, local: true }, 'the connection stayed with the app, usable')
  await client.close()
  await app.close()
  await stopChild(t, sibling)
})
