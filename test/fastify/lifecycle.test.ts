// The plugin's own routes and its part in app.close(), against the library's
// own receiver (test/fixtures/receiver-raw.js: a line of JSON to each client
// it serves): healthRoute reports the targets' health as it changes, and
// app.close() waits for a handoff in flight (its receiver frozen with
// SIGSTOP until close has begun) instead of cutting it off.
import t from 'tap'
import path from 'node:path'
import Fastify from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { captureLogger, nextSend, rawClient, startSibling, stopChild, tmpDir } from '../sender/helpers.js'

t.test('healthRoute: the targets\' health as JSON, healthy while a receiver takes handoffs and not once it is gone', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const app = Fastify()
  await app.register(fastifyHandoff, { targets: { chat: { path: sockPath, reconnect: { min: 60000, max: 60000 } } }, healthRoute: '/handoff/health' })
  t.teardown(() => app.close())
  await app.handoff.ready('chat')
  const up = await app.inject({ method: 'GET', url: '/handoff/health' })
  t.equal(up.statusCode, 200)
  t.match(up.json(), { chat: { name: 'chat', healthy: true, receivers: [{ address: sockPath, state: 'ready', receiver: { pid: sibling.pid } }] } })
  const link = app.handoff.sender.target('chat').links[0]
  const down = new Promise<void>((resolve) => link.once('down', () => resolve()))
  sibling.kill()
  await down
  const gone = await app.inject({ method: 'GET', url: '/handoff/health' })
  t.match(gone.json(), { chat: { healthy: false, receivers: [{ state: 'down' }] } }, 'the same route says so once it is gone')
  await app.close()
})

t.test('app.close() waits for a handoff in flight: it completes, then close returns', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const log = captureLogger()
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { chat: sockPath } })
  app.get('/chat', { handoff: 'chat' }, async () => ({ local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await app.handoff.ready('chat')
  sibling.proc.kill('SIGSTOP')
  const sent = nextSend(app.handoff.sender.target('chat').links[0])
  const client = rawClient((app.server.address() as { port: number }).port)
  client.socket.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
  await sent
  // Know when close has begun: Fastify closes the server (which counts the
  // connection until its verdict releases it), then the sender.
  const reached = new Promise<void>((resolve) => {
    const close = app.server.close.bind(app.server)
    app.server.close = (callback) => { resolve(); return close(callback) }
  })
  let logAtClose = -1
  const closing = app.close().then(() => { logAtClose = log.lines.length })
  await reached
  t.equal(logAtClose, -1, 'close is waiting')
  sibling.proc.kill('SIGCONT')
  const line = await client.waitFor((d) => d.includes('\n'))
  t.equal(JSON.parse(line.subarray(0, line.indexOf('\n')).toString()).pid, sibling.pid, 'the handoff completed: the receiver serves the client')
  await closing
  const handedOff = log.lines.findIndex((l) => l.msg === 'connection handed off')
  t.ok(handedOff >= 0 && handedOff < logAtClose, 'the handoff was settled before app.close() returned')
  client.socket.end()
  await client.closed
  await sibling.request('idle')
  await stopChild(t, sibling)
})
