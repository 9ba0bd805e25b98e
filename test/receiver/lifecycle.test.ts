// drain() and close(): senders are told (STATUS, GOODBYE), new handoffs are
// refused, and the connections already handed off keep being served until
// they end (drain) or until the app itself closes them (close).
//
// The sender is the hand-built one (test/fixtures/receiver-sender.js) on
// purpose: these tests read the frames the senders are told (STATUS
// draining, GOODBYE and its reason). The same drain through the library's
// own sender is in sender.test.ts and test/sender/drain.test.ts.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { WsClient, startReceiver, startSender, stopChild, tmpDir } from './helpers.js'

t.test('drain(): no new handoffs, the live ones are served to their end, then close()', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  const receiverFds = receiver.fds()

  const a = new WsClient(`ws://127.0.0.1:${sender.port}/ws`)
  await a.opened
  await a.next()
  receiver.proc.send({ cmd: 'drain' })
  await receiver.event('draining')
  t.same(await sender.event('status', (m) => m.draining === true), { event: 'status', live: 1, max: null, draining: true },
    'senders hear the receiver is draining (for balancing)')
  t.equal((await sender.event('goodbye')).reason, 'draining', 'and get GOODBYE "draining"')

  const b = new WsClient(`ws://127.0.0.1:${sender.port}/ws`)
  await t.rejects(b.opened, /unexpected response 503/, 'a handoff that crossed the GOODBYE falls back at the sender')
  const rejected = await sender.event('reject')
  t.same({ reason: rejected.reason, retryable: rejected.retryable }, { reason: 'draining', retryable: true })
  await b.closed

  a.send('still served')
  t.equal(await a.next(), 'still served', 'the live connection is still served while draining')
  t.equal(receiver.messages.filter((m) => m.reply === 'drain').length, 0, 'drain() has not resolved while a connection lives')
  a.send('close:4002:drained')
  t.same(await a.closed, { code: 4002, reason: 'drained' })
  const drained = await receiver.waitFor((m) => m.reply === 'drain')
  t.same({ live: drained.stats.live, draining: drained.stats.draining }, { live: 0, draining: true }, 'drain() resolves once the last one closed')
  t.equal(receiver.fds(), receiverFds)

  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
  t.notOk(fs.existsSync(sockPath), 'the socket file is removed')
})

t.test('close(): the channels go, the handed-off connections stay with the app until it closes them', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')

  const c = new WsClient(`ws://127.0.0.1:${sender.port}/ws`)
  await c.opened
  await c.next()
  const closed = await receiver.request('closeReceiver')
  t.same({ peers: closed.stats.peers, live: closed.stats.live }, { peers: 0, live: 1 }, 'no channel left, one live connection')
  t.equal((await sender.event('goodbye')).reason, 'shutdown', 'senders get GOODBYE "shutdown"')
  await sender.event('channel-close')
  t.notOk(fs.existsSync(sockPath), 'no longer listening')

  c.send('after close()')
  t.equal(await c.next(), 'after close()', 'the connection is still served by the app')

  // The app's own close (Fastify + @fastify/websocket) ends it.
  receiver.proc.send({ cmd: 'close' })
  t.equal((await c.closed).code, 1005, '@fastify/websocket closes its clients when the app closes')
  const { code } = await receiver.exited
  t.equal(code, 0, 'the sibling exits cleanly: nothing left open')
  await stopChild(t, sender)
})
