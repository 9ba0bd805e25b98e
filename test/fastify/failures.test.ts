// When the connection stays with the app: no receiver, a receiver killed with
// the handoff in flight, a receiver that never answers (the deadline + grace
// rule of PROTOCOL.md §7 and docs/sender.md), one that decides too late.
// The client always gets an answer (503 + Retry-After, written on the raw
// socket), never a hang, and never from two processes.
//
// The receivers are the library's own (test/fixtures/receiver-fastify.js),
// frozen with SIGSTOP where a test needs a verdict to wait: killed while
// frozen, it dies with the HANDOFF unread; frozen past the deadline, it
// decides late and must REJECT. Time is never measured: where "at once" is
// the point, the other way out (timeout, grace) is set so long that the
// test's own wait limit would fail first. One test keeps the hand-built
// receiver (test/fixtures/sibling-faulty.js, mode 'silent'): a receiver that
// keeps reading its channel and holds the descriptor but never answers, which
// the library's receiver never does.
import t, { type Test } from 'tap'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  captureLogger, clientFrame, clockPast, nextSend, parseResponse, rawClient, startFaulty, startSibling, stopChild, tmpDir, upgradeRequest
} from '../sender/helpers.js'

/** Long enough that a test waiting for it would hit its own wait limit first. */
const NEVER = 600000

interface Setup {
  app: FastifyInstance
  port: number
  log: ReturnType<typeof captureLogger>
}

async function setup (t: Test, sockPath: string, options: { timeout?: number, grace?: number } = {}): Promise<Setup> {
  const log = captureLogger()
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets: { chat: { path: sockPath, retryAfter: 7, ...options } } })
  app.get('/chat', { handoff: 'chat' }, async () => ({ local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { app, port: (app.server.address() as { port: number }).port, log }
}

/** An upgrade from a raw client, with a WebSocket frame in the same packet; resolves with the whole answer once the server closed. */
async function upgradeAndWait (port: number): Promise<{ answer: Buffer, client: ReturnType<typeof rawClient> }> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(Buffer.concat([Buffer.from(upgradeRequest('/chat', port).text), clientFrame(1, 'hello?')]))
  const answer = await client.ended
  return { answer, client }
}

function assert503 (t: Test, answer: Buffer, retryAfter = '7'): void {
  const response = parseResponse(answer)
  t.equal(response?.status, 503, 'the client is answered 503')
  t.equal(response?.headers['retry-after'], retryAfter, 'with Retry-After')
  t.equal(response?.headers.connection, 'close')
  t.equal(response?.length, answer.length, 'and nothing else: one answer, from one process')
}

t.test('no receiver listening: 503 without waiting for a verdict', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const { app, port, log } = await setup(t, path.join(dir, 'nobody.sock'), { timeout: NEVER })
  const { answer, client } = await upgradeAndWait(port)
  assert503(t, answer)
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_UNAVAILABLE'), 'ERR_HANDOFF_UNAVAILABLE logged')
  t.equal(app.handoff.healthy('chat'), false, 'the target reports unhealthy')
  t.equal(app.handoff.health().chat.receivers[0].state, 'down')
  client.socket.destroy()
  await client.closed
  await app.close()
})

t.test('the receiver is killed after the HANDOFF and before any verdict: the client gets its 503 when the channel ends', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const { app, port, log } = await setup(t, sockPath, { timeout: NEVER })
  await app.handoff.ready('chat')
  sibling.proc.kill('SIGSTOP')
  const sent = nextSend(app.handoff.sender.target('chat').links[0])
  const pending = upgradeAndWait(port)
  await sent
  sibling.kill() // with the HANDOFF unread in its channel
  const { answer } = await pending
  assert503(t, answer)
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_RECEIVER_LOST'), 'ERR_HANDOFF_RECEIVER_LOST logged')
  await sibling.exited
  await app.close()
})

t.test('timeout: a frozen receiver; at deadline + grace the app answers, and the receiver, thawed, refuses the handoff', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const { app, port, log } = await setup(t, sockPath, { timeout: 300, grace: 200 })
  await sibling.event('peer')
  await app.handoff.ready('chat')
  sibling.proc.kill('SIGSTOP')
  const { answer, client } = await upgradeAndWait(port)
  assert503(t, answer)
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_VERDICT_TIMEOUT'), 'ERR_HANDOFF_VERDICT_TIMEOUT logged')
  sibling.proc.kill('SIGCONT')
  const refusal = await sibling.event('reject')
  t.ok(['expired', 'closed-client'].includes(refusal.reject.reason), `the receiver refused it (${refusal.reject.reason as string}): it reads the HANDOFF after the deadline`)
  t.equal((await sibling.request('stats')).stats.total, 0, 'and never accepted it')
  client.socket.destroy()
  await client.closed
  await app.close()
  await stopChild(t, sibling)
})

t.test('timeout: a receiver that reads but never answers (faulty); at deadline + grace the app answers, and the link gets a fresh channel', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startFaulty(t, { path: sockPath, mode: 'silent' })
  const siblingFds = sibling.fds()
  const { app, port, log } = await setup(t, sockPath, { timeout: 300, grace: 200 })
  await sibling.event('peer')
  await app.handoff.ready('chat')
  const pending = upgradeAndWait(port)
  const handoff = await sibling.event('handoff')
  t.equal(handoff.meta.deadline - handoff.meta.sentAt, 300, 'the HANDOFF carries its deadline: sentAt + timeout')
  t.equal(handoff.buffered.length, 6 + 6, 'the frame sent with the upgrade travelled with it')
  const { answer } = await pending
  const answeredAt = Date.now()
  assert503(t, answer)
  t.ok(answeredAt >= handoff.meta.deadline + 200, 'not before deadline + grace')
  t.ok(log.lines.some((l) => l.err?.code === 'ERR_HANDOFF_VERDICT_TIMEOUT'), 'ERR_HANDOFF_VERDICT_TIMEOUT logged')
  // The silent receiver still holds its copy: the link stops offering it
  // handoffs and gets a fresh channel once nothing is in flight.
  await sibling.event('peerClose')
  await sibling.event('peer')
  await sibling.request('release')
  t.equal(sibling.fds(), siblingFds + 1, 'the receiver holds nothing but the new channel')
  await app.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling, 'exit')
})

t.test('a receiver that decides after the deadline must REJECT "expired": the app answers without waiting for the grace', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const timeout = 1000
  const { app, port, log } = await setup(t, sockPath, { timeout, grace: NEVER })
  await app.handoff.ready('chat')
  sibling.proc.kill('SIGSTOP')
  const sent = nextSend(app.handoff.sender.target('chat').links[0])
  const pending = upgradeAndWait(port)
  await clockPast((await sent) + timeout)
  sibling.proc.kill('SIGCONT')
  const verdict = await sibling.event('reject')
  t.equal(verdict.reject.reason, 'expired')
  const { answer, client } = await pending
  assert503(t, answer)
  const failure = log.lines.find((l) => l.err?.code === 'ERR_HANDOFF_REJECTED')
  t.equal(failure?.err?.reason, 'expired')
  t.equal(app.handoff.healthy('chat'), true, 'a receiver that answers stays healthy')
  client.socket.destroy()
  await client.closed
  await app.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling)
})
