// A keep-alive connection moved by reply.handoff carries the handed-off
// request only, unless the web app opts in (laterRequests: 'sibling'): the
// requests that follow it on the connection never reach the sibling, so they
// go through the web app's hooks on a new connection (a user the web app
// refuses never reaches the sibling). Raw clients, sequential and pipelined,
// an upgrade the sibling answers without a 101, and Chromium's EventSource,
// which reconnects on the same connection when a stream ends.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { prerequisite } from '../helpers/prereq.js'
import {
  KeepAliveClient, parseResponse, rawClient, sseEvents, startSibling, stopChild, tmpDir, upgradeRequest, type Child
} from '../sender/helpers.js'

interface Webapp {
  app: FastifyInstance
  port: number
  sibling: Child
  /** Every request the web app's hook saw: [url, user]. */
  seen: Array<[string, string | null]>
  /** Users the hook lets open one /sse stream only. */
  oneStream: Set<string>
}

function userOf (cookie: string | undefined): string | null {
  return /(?:^|;\s*)user=([^;]+)/.exec(cookie ?? '')?.[1] ?? null
}

/**
 * The web app: authenticates every request by its cookie (none: 401; a
 * refused user: 403) and hands /sse off to the sibling, closing the
 * connection after it unless ?keep asks for laterRequests: 'sibling'.
 */
async function setup (t: Test, kind: 'fastify' | 'http' = 'fastify'): Promise<Webapp> {
  // (The page and its favicon are not recorded in `seen`.)
  const sockPath = path.join(tmpDir(t), 'events.sock')
  const sibling = await startSibling(t, { path: sockPath }, kind)
  const app = Fastify({ logger: false })
  await app.register(fastifyHandoff, { targets: { events: sockPath } })
  const seen: Webapp['seen'] = []
  const oneStream = new Set<string>()
  app.addHook('onRequest', async (request, reply) => {
    const user = userOf(request.headers.cookie)
    if (request.url === '/' || request.url === '/favicon.ico') return
    const again = seen.some(([url, u]) => url.startsWith('/sse') && u === user)
    seen.push([request.url, user])
    if (user === null) return await reply.code(401).send({ error: 'who are you', pid: process.pid })
    const refused = user === 'mallory' || (oneStream.has(user) && request.url.startsWith('/sse') && again)
    if (refused) return await reply.code(403).send({ error: 'forbidden', pid: process.pid })
    request.handoffContext = { user }
  })
  app.get('/', async (request, reply) => await reply.type('text/html').send('<!doctype html><title>sse</title>'))
  app.get('/sse', (request, reply) => reply.handoff('events', request.handoffContext,
    (request.query as { keep?: string }).keep === undefined ? {} : { laterRequests: 'sibling' }))
  app.get('/plain', async () => ({ pid: process.pid, local: true }))
  app.get('/sse-bad', (request, reply) => reply.handoff('events', null, { laterRequests: 'receiver' as 'sibling' }))
  app.get('/ws', { handoff: 'events' }, async () => ({ pid: process.pid, local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await app.handoff.ready('events')
  await sibling.event('peer')
  return { app, port: (app.server.address() as { port: number }).port, sibling, seen, oneStream }
}

const request = (pathname: string, user?: string): string =>
  `GET ${pathname} HTTP/1.1\r\nHost: localhost\r\n${user === undefined ? '' : `Cookie: user=${user}\r\n`}\r\n`

async function served (sibling: Child): Promise<number> {
  return (await sibling.request('served')).served as number
}

/** Once the sibling serves no connection any more: the web app closes, the sibling exits cleanly. */
async function shutdown (t: Test, w: Webapp): Promise<void> {
  await w.sibling.request('idle')
  await w.app.close()
  await stopChild(t, w.sibling)
}

/** A new connection, one request as mallory: the web app's own 403. */
async function mallorySeesTheWebapp (t: Test, w: Webapp): Promise<void> {
  const client = new KeepAliveClient(w.port)
  const refusal = await client.get('/plain', 'Cookie: user=mallory\r\n')
  t.equal(refusal.status, 403, 'on a new connection, mallory gets the web app\'s 403')
  t.equal(JSON.parse(refusal.body).pid, process.pid)
  await client.close()
}

t.test('sequential: after the handed-off response the connection closes; the next requests never reach the sibling', async (t) => {
  checkFdLeaks(t)
  const w = await setup(t)
  const siblingFds = w.sibling.fds()
  const client = new KeepAliveClient(w.port)
  await client.raw.connected

  const sse = await client.get('/sse', 'Cookie: user=alice\r\n')
  t.equal(sse.status, 200)
  t.match(sse.headers.connection, /^close$/i, 'the sibling answers with Connection: close')
  const first = JSON.parse(sseEvents(sse.body)[0])
  t.equal(first.pid, w.sibling.pid, 'the stream comes from the sibling')
  t.same(first.info.context, { user: 'alice' })
  t.equal(first.info.keepAlive, false, 'the sibling was not allowed later requests')
  t.equal(first.info.requestNumber, 1, 'this is the handed-off request')
  t.equal(first.info.connection, 'close', 'the app sees Connection: close')
  t.notMatch(first.info.head, /connection/i, 'the client\'s own head is in handoffInfo().head, as sent')

  // The client ignores Connection: close and sends two more requests on the
  // same connection (a write may meet the closed connection: that is the point).
  client.raw.socket.write(request('/plain', 'mallory') + request('/plain'))
  await client.raw.closed
  t.equal(client.raw.received().length, sse.length, 'nothing after the handed-off response')
  t.equal(await served(w.sibling), 1, 'the sibling served exactly one request')
  t.same(w.seen, [['/sse', 'alice']], 'the web app saw the handed-off request only')

  await mallorySeesTheWebapp(t, w)
  await w.sibling.request('idle')
  t.equal(w.sibling.fds(), siblingFds, 'the sibling closed its copy of the connection')
  await shutdown(t, w)
})

t.test('pipelined during the stream: the stream completes, the pipelined requests run no handler, the connection closes', async (t) => {
  checkFdLeaks(t)
  const w = await setup(t)
  const raw = rawClient(w.port)
  await raw.connected
  raw.socket.write(request('/sse?hold', 'alice'))
  await raw.waitFor((data) => data.includes('data: two'))
  // The stream is open on the sibling: pipeline two requests behind it.
  const pipelined = request('/plain', 'mallory') + request('/plain')
  raw.socket.write(pipelined)
  // The sibling ends the stream once its connection has read them.
  t.equal((await w.sibling.request('endStreams', { after: Buffer.byteLength(pipelined) })).ended, 1)
  await raw.closed
  const text = raw.received()
  const response = parseResponse(text)
  t.ok(response, 'one complete response (its last chunk included)')
  t.equal(response?.length, text.length, 'and nothing after it')
  t.match(response?.headers.connection ?? '', /^close$/i)
  t.same(sseEvents(response?.body ?? '').slice(1), ['two', 'three'], 'every event of the stream')
  t.equal(await served(w.sibling), 1, 'the pipelined requests never reached a handler of the sibling')
  t.same(w.seen, [['/sse?hold', 'alice']])

  await mallorySeesTheWebapp(t, w)
  await shutdown(t, w)
})

t.test('laterRequests: \'sibling\': the sibling serves the later requests and tells them apart', async (t) => {
  checkFdLeaks(t)
  const w = await setup(t)
  const client = new KeepAliveClient(w.port)
  const sse = await client.get('/sse?keep', 'Cookie: user=alice\r\n')
  t.not((sse.headers.connection ?? '').toLowerCase(), 'close', 'a persistent connection')
  const first = JSON.parse(sseEvents(sse.body)[0])
  t.same({ keepAlive: first.info.keepAlive, requestNumber: first.info.requestNumber }, { keepAlive: true, requestNumber: 1 })
  const second = await client.get('/plain', 'Cookie: user=mallory\r\n')
  const third = await client.get('/plain')
  for (const [response, number] of [[second, 2], [third, 3]] as const) {
    const body = JSON.parse(response.body)
    t.equal(body.pid, w.sibling.pid, `request ${number} is the sibling's, as the web app allowed`)
    t.equal(body.info.requestNumber, number, `and handoffInfo(req).requestNumber says it is request ${number}`)
    t.same(body.info.context, { user: 'alice' }, 'the context is the handed-off request\'s: the sibling must authenticate it')
  }
  t.equal(await served(w.sibling), 3)
  t.same(w.seen, [['/sse?keep', 'alice']], 'the web app saw the first request only')
  await client.close()
  await shutdown(t, w)
})

t.test('laterRequests other than \'close\' or \'sibling\': refused before anything moves, answered here', async (t) => {
  checkFdLeaks(t)
  const w = await setup(t)
  const client = new KeepAliveClient(w.port)
  const refused = await client.get('/sse-bad', 'Cookie: user=alice\r\n')
  t.equal(refused.status, 503, 'the fallback answers')
  const next = await client.get('/plain', 'Cookie: user=alice\r\n')
  t.same(JSON.parse(next.body), { pid: process.pid, local: true }, 'the connection stayed here, usable')
  t.equal(await served(w.sibling), 0, 'nothing reached the sibling')
  await client.close()
  await shutdown(t, w)
})

t.test('an upgrade the sibling serves as a plain request (no \'upgrade\' listener): nothing after it reaches the sibling', async (t) => {
  checkFdLeaks(t)
  const w = await setup(t, 'http')
  const raw = rawClient(w.port)
  await raw.connected
  raw.socket.write(upgradeRequest('/ws', w.port, 'Cookie: user=alice\r\n').text)
  const data = await raw.waitFor((d) => parseResponse(d) !== null)
  const response = parseResponse(data)
  t.equal(response?.status, 426, 'the sibling answered the upgrade request with plain HTTP')
  t.match(response?.headers.connection ?? '', /^close$/i, 'closing the connection')
  const body = JSON.parse(response?.body ?? '{}')
  t.equal(body.pid, w.sibling.pid)
  t.equal(body.connection, 'Upgrade, close', 'the Upgrade token is kept, keep-alive is not')
  raw.socket.write(request('/plain', 'mallory') + request('/plain'))
  await raw.closed
  t.equal(raw.received().length, response?.length, 'nothing after the response')
  t.equal(await served(w.sibling), 1, 'the later requests never reached the sibling')
  await mallorySeesTheWebapp(t, w)
  await shutdown(t, w)
})

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// In CI a missing browser is a failure, not a skip that keeps the run green.
const noChromium = prerequisite(t, { name: `chromium at ${CHROMIUM}`, available: fs.existsSync(CHROMIUM), install: 'apt-get install chromium, or set CHROMIUM_PATH' })

interface Record { events: string[], errors: number, closed: boolean }

/** A page of the web app (alice's cookie set) with an EventSource on `url`, recording what it gets in window.record. */
async function eventSource (browser: Browser, origin: string, url: string): Promise<Page> {
  const page = await browser.newPage()
  page.setDefaultTimeout(15000)
  await page.goto(origin)
  await page.evaluate((u) => {
    document.cookie = 'user=alice'
    const record = { events: [] as string[], errors: 0, closed: false }
    ;(window as unknown as { record: Record }).record = record
    const source = new EventSource(u)
    source.onmessage = (e) => { record.events.push(String(e.data)) }
    source.onerror = () => {
      record.errors++
      if (source.readyState === EventSource.CLOSED) record.closed = true
    }
  }, url)
  return page
}

const recordOf = async (page: Page): Promise<Record> => await page.evaluate(() => (window as unknown as { record: Record }).record)

t.test('Chromium EventSource: the reconnect after a handed-off stream goes through the web app\'s hooks', { skip: noChromium }, async (t) => {
  checkFdLeaks(t)
  const w = await setup(t)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic']
  })
  t.teardown(() => browser.close())
  const origin = `http://127.0.0.1:${w.port}/`
  // One stream per session: the hook refuses alice's second /sse (a session
  // revoked meanwhile looks the same to the hook).
  w.oneStream.add('alice')

  const page = await eventSource(browser, origin, '/sse?retry=20')
  await page.waitForFunction(() => (window as unknown as { record: Record }).record.closed)
  const record = await recordOf(page)
  const first = JSON.parse(record.events[0])
  t.equal(first.pid, w.sibling.pid, 'the first stream came from the sibling')
  t.equal(first.info.requestNumber, 1)
  t.same(record.events.slice(1), ['two', 'three'], 'the whole stream')
  t.same(w.seen.filter(([url]) => url.startsWith('/sse')), [['/sse?retry=20', 'alice'], ['/sse?retry=20', 'alice']],
    'the reconnect reached the web app\'s hook, which refused it (the EventSource gave up)')
  t.equal(await served(w.sibling), 1, 'the sibling served the handed-off stream only')
  await page.close()

  // The contrast, with the web app's opt-in: Chromium does reconnect on the
  // same connection, and the sibling serves it as a later request.
  w.oneStream.clear()
  const kept = await eventSource(browser, origin, '/sse?retry=20&keep')
  await kept.waitForFunction(() => (window as unknown as { record: Record }).record.events
    .some((e) => e.startsWith('{') && JSON.parse(e).info.requestNumber === 2))
  const later = (await recordOf(kept)).events.filter((e) => e.startsWith('{')).map((e) => JSON.parse(e))
  t.equal(later[1].pid, w.sibling.pid, 'with laterRequests: \'sibling\' the reconnect is the sibling\'s')
  t.equal(later[1].info.remotePort, later[0].info.remotePort, 'on the same connection')
  await kept.close()
  await shutdown(t, w)
})
