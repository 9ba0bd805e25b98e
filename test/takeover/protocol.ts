// The takeover control channel: its codec refuses what PROTOCOL.md
// ("Listener takeover") does not allow, and a running generation refuses a
// successor it does not trust, one that speaks another version, and rolls
// back on one that breaks the protocol; a successor refuses a running
// generation it does not trust. Nothing is handed over in any of these.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { forkFixture, stopChild } from '../helpers/child.js'
import { startGen } from './helpers.js'

const messages = require('../../dist/takeover/messages.js')
const { Conversation } = require('../../dist/takeover/conversation.js')
const { connectUnix } = require('../../dist/unix.js')
const { closeFds } = require('../../dist/channel.js')

const { TakeoverType, encode, decode, takeoverFramer } = messages

const offer = { type: TakeoverType.Offer, body: { pid: 1, generation: 1, listeners: [{ name: 'http', kind: 'tcp', address: '127.0.0.1:1' }] } }

t.test('codec: every message round-trips; what the protocol forbids is refused', async (t) => {
  const all = [
    { type: TakeoverType.Ask, body: { protocol: 'fastify-handoff/takeover', version: 1, pid: 2 } },
    offer,
    { type: TakeoverType.Ready, body: { pid: 2 } },
    { type: TakeoverType.Commit, body: {} },
    { type: TakeoverType.Abort, body: { reason: 'timeout', message: 'late' } },
    { type: TakeoverType.Refuse, body: { reason: 'busy', message: 'later' } }
  ]
  for (const message of all) {
    const fds = message.type === TakeoverType.Offer ? [99] : []
    const frame = encode(message, fds.length)
    t.same(takeoverFramer.parse(frame.subarray(0, 16)), { frameSize: frame.length, fdCount: fds.length })
    t.same(decode(frame, fds), message, `${messages.typeName(message.type)} round-trips`)
  }
  const bad = (frame: Buffer, fds: number[], why: RegExp, what: string): void => {
    t.throws(() => decode(frame, fds), { code: 'ERR_HANDOFF_TAKEOVER_PROTOCOL', message: why }, what)
  }
  const ready = encode({ type: TakeoverType.Ready, body: { pid: 2 } })
  const patched = (at: number, value: number, frame = ready): Buffer => { const f = Buffer.from(frame); f[at] = value; return f }
  bad(patched(0, 0), [], /bad magic/, 'a bad magic')
  bad(patched(2, 2), [], /frame version 2/, 'another frame version')
  bad(patched(3, 2), [], /not a takeover frame/, 'a handoff frame type')
  bad(patched(4, 1), [], /must be 0/, 'flags')
  bad(patched(5, 1), [1], /carries no descriptors/, 'descriptors on READY')
  bad(patched(5, 254, encode(offer, 1)), [], /OFFER: 254 descriptors/, 'more descriptors than one message may carry (SCM_MAX_FD 253)')
  t.equal(messages.typeName(99), 'type 99', 'a type it does not know is named by its number in its errors')
  const big = Buffer.from(ready); big.writeUInt32BE(64 * 1024 + 1, 12)
  t.throws(() => takeoverFramer.parse(big), /body of 65537 bytes/, 'a body over 64 KiB')
  const withBody = (type: number, body: string, fdCount = 0): Buffer => {
    const f = encode({ type, body: {} }, fdCount)
    return Buffer.concat([f.subarray(0, 12), Buffer.from([0, 0, 0, Buffer.byteLength(body)]), Buffer.from(body)])
  }
  bad(withBody(TakeoverType.Ready, 'nope'), [], /not JSON/, 'a body that is not JSON')
  bad(withBody(TakeoverType.Ready, '[1]'), [], /not an object/, 'a body that is not an object')
  bad(withBody(TakeoverType.Ask, '{"protocol":"x"}'), [], /needs protocol, version, pid/, 'ASK without its fields')
  bad(withBody(TakeoverType.Ready, '{}'), [], /needs pid/, 'READY without pid')
  bad(withBody(TakeoverType.Abort, '{"reason":1}'), [], /needs reason and message/, 'ABORT without a reason string')
  bad(withBody(TakeoverType.Offer, '{"pid":1}', 1), [1], /needs pid, generation, listeners/, 'OFFER without listeners')
  const twice = JSON.stringify({ pid: 1, generation: 1, listeners: [offer.body.listeners[0], offer.body.listeners[0]] })
  bad(withBody(TakeoverType.Offer, twice, 2), [1, 2], /unique name/, 'two listeners of one name')
  bad(encode(offer, 1), [], /1 listeners, 1 descriptors declared, 0 received/, 'an OFFER whose descriptors did not all come')
  t.throws(() => encode({ type: TakeoverType.Ready, body: { pid: 'x'.repeat(70000) } }), { code: 'ERR_HANDOFF_TAKEOVER_PROTOCOL' }, 'the encoder refuses a body over 64 KiB')
})

t.test('trust: a running generation refuses a successor whose uid it does not allow, and a successor refuses such a running generation', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-trust-')
  const control = path.join(dir, 'control.sock')
  const stranger = { uids: [65533] }
  const first = await startGen(t, { control, allow: stranger }, 'generation 1 (allows uid 65533 only)')
  const refused = forkFixture('takeover-webapp.js', { control, port: first.port }, 'successor', t)
  t.match(await refused.event('failed'), { code: 'ERR_HANDOFF_TAKEOVER_REFUSED', message: /\(unauthorized\)/ }, 'the successor is told it is not allowed')
  t.match((await first.child.event('log', (m) => m.level === 'warn')).msg, /takeover refused: pid \d+ runs as uid 0 gid 0, not allowed/)
  const wary = forkFixture('takeover-webapp.js', { control, port: first.port, allow: stranger }, 'wary successor', t)
  t.match(await wary.event('failed'), { code: 'ERR_HANDOFF_TAKEOVER_UNTRUSTED' }, 'a successor that does not allow the running generation\'s uid takes nothing')
  t.equal(first.child.seen('handover').length, 0, 'generation 1 kept its listeners')
  await stopChild(t, first.child, 'close')
})

t.test('a peer on the control socket that speaks another version, or breaks the protocol: refused, rolled back', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-peer-')
  const control = path.join(dir, 'control.sock')
  const first = await startGen(t, { control }, 'generation 1')

  const other = new Conversation(await connectUnix(control))
  await other.send({ type: TakeoverType.Ask, body: { protocol: 'fastify-handoff/takeover', version: 2, pid: process.pid } })
  const answer = await other.next([TakeoverType.Refuse], 10000)
  t.match(answer.message.body, { reason: 'version' }, 'another version: REFUSE version')
  other.close()

  const rude = new Conversation(await connectUnix(control))
  await rude.send({ type: TakeoverType.Ask, body: { protocol: 'fastify-handoff/takeover', version: 1, pid: process.pid } })
  const got = await rude.next([TakeoverType.Offer], 10000)
  t.equal(got.fds.length, 2, 'an OFFER: the control socket and the listener')
  closeFds(got.fds)
  // A COMMIT is the running side's to send: a protocol violation.
  await rude.send({ type: TakeoverType.Commit, body: {} })
  const aborted = await rude.next([TakeoverType.Abort], 10000)
  t.match(aborted.message.body, { reason: 'error' }, 'the running generation answers ABORT')
  rude.close()
  t.match((await first.child.event('log', (m) => m.level === 'warn')).msg, /rolled back, this generation \(pid \d+\) serves on: the new generation \(pid \d+\) broke the protocol: unexpected COMMIT/)
  t.equal(first.child.seen('handover').length, 0)

  const second = await startGen(t, { control, port: first.port }, 'generation 2')
  t.equal(second.generation, 2, 'a proper successor takes over afterwards')
  await first.child.exited
  await stopChild(t, second.child, 'close')
})
