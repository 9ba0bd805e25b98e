// What cannot be handed off is refused with a typed error (@fastify/error
// codes), logged through request.log, and the client is still answered:
// TLS, HTTP/2, a handoff route that is not a GET upgrade route.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http2 from 'node:http2'
import path from 'node:path'
import Fastify from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { WsClient, captureLogger, startSibling, stopChild, tmpDir } from '../sender/helpers.js'

function selfSigned (t: Test): { key: Buffer, cert: Buffer } {
  const dir = tmpDir(t)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'],
  { stdio: 'ignore' })
  return { key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }
}

// The test certificate is made with openssl.
const noOpenssl = prerequisite(t, { name: 'openssl', available: hasCommand('openssl', ['version']), install: 'apt-get install openssl' })

t.test('TLS: the upgrade and the SSE request are refused (ERR_HANDOFF_TLS) and answered 503 over TLS', { skip: noOpenssl }, async (t) => {
  checkFdLeaks(t)
  const tls = selfSigned(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const log = captureLogger()
  const app = Fastify({ https: tls, loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { chat: sockPath } })
  app.get('/ws', { handoff: 'chat' }, async () => ({ local: true }))
  app.get('/sse', (request, reply) => reply.handoff('chat'))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port

  const ws = new WsClient(`wss://127.0.0.1:${port}/ws`, { rejectUnauthorized: false })
  await t.rejects(ws.opened, { statusCode: 503 }, 'the upgrade is answered 503')
  await ws.closed
  const upgradeRefusal = log.lines.find((l) => l.err?.code === 'ERR_HANDOFF_TLS')
  t.ok(upgradeRefusal, 'ERR_HANDOFF_TLS logged')
  t.ok(upgradeRefusal?.reqId !== undefined, 'through request.log (it carries the request id)')

  const sse = await new Promise<{ status: number, retryAfter: string | undefined }>((resolve, reject) => {
    const https = require('node:https') as typeof import('node:https')
    https.get({ host: '127.0.0.1', port, path: '/sse', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }))
    }).on('error', reject)
  })
  t.same(sse, { status: 503, retryAfter: '5' }, 'reply.handoff over TLS is answered 503')
  t.equal(log.lines.filter((l) => l.err?.code === 'ERR_HANDOFF_TLS').length, 2)
  t.equal((await sibling.request('stats')).stats.total, 0, 'nothing reached the sibling')
  await app.close()
  await stopChild(t, sibling)
})

t.test('HTTP/2: reply.handoff is refused (ERR_HANDOFF_HTTP2) and answered 503 on the stream', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const log = captureLogger()
  const app = Fastify({ http2: true, loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { events: path.join(dir, 'events.sock') } })
  app.get('/sse', (request, reply) => reply.handoff('events'))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port
  const session = http2.connect(`http://127.0.0.1:${port}`)
  const response = await new Promise<{ status: number, retryAfter: unknown }>((resolve, reject) => {
    const stream = session.request({ ':path': '/sse' })
    let headers: http2.IncomingHttpHeaders = {}
    stream.on('response', (h) => { headers = h })
    stream.resume()
    stream.on('end', () => resolve({ status: Number(headers[':status']), retryAfter: headers['retry-after'] }))
    stream.on('error', reject)
  })
  t.same(response, { status: 503, retryAfter: '5' })
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_HTTP2'), 'ERR_HANDOFF_HTTP2 logged')
  await new Promise<void>((resolve) => session.close(() => resolve()))
  await app.close()
})

t.test('a handoff route must be a GET route, to a known target', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const register = async (define: (app: ReturnType<typeof Fastify>) => void): Promise<void> => {
    const app = Fastify()
    try {
      await app.register(fastifyHandoff, { targets: { chat: path.join(dir, 'chat.sock') } })
      define(app)
      await app.ready()
    } finally {
      await app.close()
    }
  }
  await t.rejects(register((app) => app.post('/ws', { handoff: 'chat' }, async () => 'x')),
    { code: 'ERR_HANDOFF_NOT_UPGRADE', message: /POST \/ws/ }, 'POST')
  await t.rejects(register((app) => app.route({ method: ['GET', 'PUT'], url: '/ws', handoff: 'chat', handler: async () => 'x' })),
    { code: 'ERR_HANDOFF_NOT_UPGRADE' }, 'GET and PUT')
  await t.rejects(register((app) => app.get('/ws', { handoff: 'nowhere' }, async () => 'x')),
    { code: 'ERR_HANDOFF_UNKNOWN_TARGET', message: /nowhere/ }, 'an unknown target')
  await register((app) => app.route({ method: ['GET', 'HEAD'], url: '/ws', handoff: { target: 'chat' }, handler: async () => 'x' }))
  t.pass('GET (with HEAD) is fine')
})

t.test('upgradeOnly: an ordinary request to the route gets 426 with a typed error', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const log = captureLogger()
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { chat: path.join(dir, 'chat.sock') } })
  app.get('/ws', { handoff: { target: 'chat', upgradeOnly: true } }, async () => ({ local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as { port: number }).port
  const res = await fetch(`http://127.0.0.1:${port}/ws`)
  t.equal(res.status, 426)
  t.match(await res.json(), { code: 'ERR_HANDOFF_UPGRADE_REQUIRED' })
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_UPGRADE_REQUIRED'), 'logged')
  await app.close()
})
