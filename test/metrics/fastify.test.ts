// The metrics option through both Fastify plugins: the web app's
// (`app.handoff.stats()`, `metrics: { registry }`) and the sibling's
// (handoffReceiver's `metrics`), over a real Unix socket and real TCP
// connections; and a local fallback counted as one.
import t from 'tap'
import http from 'node:http'
import path from 'node:path'
import Fastify from 'fastify'
import { Registry } from 'prom-client'
import { checkFdLeaks } from '../helpers/fds.js'
import { samples } from './helpers.js'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { handoffReceiver } from '../../plugin/receiver/fastify.js'
import { tmpDir } from '../sender/helpers.js'

/** One GET on a fresh connection; resolves with the status and body once the connection has closed. */
async function get (port: number, url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: url, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => res.socket.once('close', () => resolve({ status: res.statusCode ?? 0, body })))
    })
    req.on('error', reject)
  })
}

t.test('both plugins take metrics: { registry }; app.handoff.stats() counts a handoff and a local fallback', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'events.sock')
  const siblingRegistry = new Registry()
  const sibling = Fastify()
  await sibling.register(handoffReceiver, { path: sockPath, metrics: { registry: siblingRegistry } })
  sibling.get('/events', async (request) => ({ handedOff: request.handoff !== undefined }))
  await sibling.ready()

  const registry = new Registry()
  const app = Fastify()
  await app.register(fastifyHandoff, {
    targets: { events: sockPath, gone: { path: path.join(dir, 'nobody.sock'), connectWait: 50 } },
    metrics: { registry }
  })
  app.get('/events', (request, reply) => { void reply.handoff('events') })
  app.get('/local', (request, reply) => {
    void reply.handoff('gone', null, { fallback: () => { reply.raw.end('served here') } })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close(); await sibling.close() })
  await app.handoff.ready('events')
  const port = (app.server.address() as { port: number }).port

  t.same(await get(port, '/events'), { status: 200, body: '{"handedOff":true}' }, 'served by the sibling')
  t.same(await get(port, '/local'), { status: 200, body: 'served here' }, 'no receiver: the local fallback')

  const stats = app.handoff.stats()
  t.equal(stats.targets.events.outcomes.accepted, 1)
  t.same(stats.targets.events.fallbacks, { unavailable: 0, local: 0, none: 0 })
  t.equal(stats.targets.gone.outcomes.unavailable, 1)
  t.same(stats.targets.gone.fallbacks, { unavailable: 0, local: 1, none: 0 }, 'the local fallback, counted as such')
  t.same(stats, app.handoff.sender.stats(), 'the decorator is the sender\'s stats')
  const lines = samples(await registry.metrics())
  for (const line of [
    'fastify_handoff_sender_handoffs_total{target="events",outcome="accepted"} 1',
    'fastify_handoff_sender_handoffs_total{target="gone",outcome="unavailable"} 1',
    'fastify_handoff_sender_fallbacks_total{target="gone",fallback="local"} 1'
  ]) t.ok(lines.includes(line), line)

  const receiver = sibling.handoffReceiver
  t.equal(receiver?.stats.total, 1, 'the sibling accepted one')
  t.equal(receiver?.stats.senderConnections, 1)
  const rlines = samples(await siblingRegistry.metrics())
  t.ok(rlines.includes('fastify_handoff_receiver_handoffs_total{outcome="accepted"} 1'), 'the sibling\'s registry says so')
  t.ok(rlines.includes('fastify_handoff_receiver_peers 1'))
})

t.test('handoffReceiver refuses a bad metrics option when it is registered', async (t) => {
  checkFdLeaks(t)
  const app = Fastify()
  app.register(handoffReceiver, { path: path.join(tmpDir(t), 'r.sock'), metrics: { registry: {} as never } })
  await t.rejects(app.ready(), { code: 'ERR_HANDOFF_METRICS_OPTION' })
  await app.close()
})
