// What the receiver refuses, and how: REJECT with a reason (the sender keeps
// the connection and falls back) for a handoff it cannot or will not adopt,
// its descriptor closed; ERROR and a dropped channel for a peer that breaks
// the protocol, the receiver serving everyone else meanwhile.
//
// These talk to the receiver as hand-built peers on purpose: the test sender
// (test/fixtures/receiver-sender.js) shows the frames themselves (the load in
// an ACCEPT, a STATUS that must not repeat it), and TestPeer sends what the
// library's sender never does (foreign descriptors, bad metadata, missing or
// extra descriptors, frames out of place). The same capacity REJECT through
// the library's own sender is in sender.test.ts.
import t from 'tap'
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { binding } from '../../plugin/native.js'
import * as protocol from '../../plugin/protocol/index.js'
import { TestPeer, rawClient, startReceiver, startSender, stopChild, tmpDir } from './helpers.js'

const { FrameType } = protocol

t.test('maxConnections: REJECT "capacity" (retryable), the sender falls back, and takes again once below', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, maxConnections: 1 })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  const receiverFds = receiver.fds()

  const a = rawClient(sender.port)
  a.socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n')
  const accepted = await sender.event('accept')
  t.same({ live: accepted.live, max: accepted.max }, { live: 1, max: 1 }, 'ACCEPT carries the load')

  const b = rawClient(sender.port)
  b.socket.write('GET /b HTTP/1.1\r\nHost: x\r\n\r\n')
  const rejected = await sender.event('reject')
  t.equal(rejected.reason, 'capacity')
  t.equal(rejected.retryable, true, 'capacity is retryable: another sibling may take it')
  t.match((await b.ended).toString(), /^HTTP\/1\.1 503 /, 'the client got the sender\'s fallback answer')
  await b.closed
  const reject = await receiver.event('reject')
  t.equal(reject.reject.reason, 'capacity')
  t.equal(receiver.fds(), receiverFds + 1, 'the rejected descriptor was closed (only the live one is open)')

  a.socket.end()
  await a.ended
  await a.closed
  await receiver.request('idle')
  await sender.event('status', (m) => m.live === 0)
  t.notOk(sender.seen('status').some((m) => m.live === 1), 'no STATUS repeated what the ACCEPT had said')
  t.equal(receiver.fds(), receiverFds)

  const c = rawClient(sender.port)
  c.socket.end('GET /c HTTP/1.1\r\nHost: x\r\n\r\n')
  await sender.event('accept')
  t.match((await c.ended).toString(), /^\{"pid":/, 'below the limit again: accepted')
  await c.closed
  const stats = (await receiver.request('idle')).stats
  t.same({ total: stats.total, rejected: stats.rejected, live: stats.live }, { total: 2, rejected: 1, live: 0 })
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('descriptors that are not a connected TCP socket: REJECT "bad-descriptor", closed', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const peer = await TestPeer.connect(sockPath)
  await peer.waitFor(FrameType.Hello)
  await receiver.event('peer')
  const receiverFds = receiver.fds()

  const file = fs.openSync(path.join(dir, 'file'), 'w')
  const [unixA, unixB] = binding.socketpair()
  const listening = net.createServer()
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve))
  const udp = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
  const cases: Array<[string, number]> = [
    ['a regular file', file],
    ['a Unix stream socket', unixA],
    ['a listening TCP socket', (listening as unknown as { _handle: { fd: number } })._handle.fd],
    ['a UDP socket', (udp as unknown as { _handle: { fd: number } })._handle.fd]
  ]
  let id = 1
  for (const [what, fd] of cases) {
    await peer.handoff(id, fd)
    const verdict = await peer.verdict(id)
    t.equal(verdict.type, FrameType.Reject, `${what}: rejected`)
    t.equal((verdict.body as protocol.Reject).reason, 'bad-descriptor', `${what}: reason bad-descriptor`)
    t.match((verdict.body as protocol.Reject).message, /expected a connected TCP socket/)
    id++
  }
  t.equal(receiver.fds(), receiverFds, 'the receiver closed every one of them')
  const stats = (await receiver.request('stats')).stats
  t.equal(stats.rejected, cases.length)
  t.equal(stats.peers, 1, 'the sender keeps its channel')

  fs.closeSync(file)
  binding.closeFd(unixA)
  binding.closeFd(unixB)
  await new Promise<void>((resolve) => listening.close(() => resolve()))
  await new Promise<void>((resolve) => udp.close(resolve))
  await peer.close()
  await stopChild(t, receiver, 'close')
})

t.test('handoffs the codec or the receiver refuse: REJECT with the reason, descriptor closed, channel kept', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, targets: ['chat'] })
  const peer = await TestPeer.connect(sockPath)
  await peer.waitFor(FrameType.Hello)
  await receiver.event('peer')
  const receiverFds = receiver.fds()

  // A real, connected TCP socket to pass around (this process keeps its copies).
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const serverSide = await accepted
  const fd = (serverSide as unknown as { _handle: { fd: number } })._handle.fd

  const reasonOf = async (id: number): Promise<string> => {
    const verdict = await peer.verdict(id)
    t.equal(verdict.type, FrameType.Reject, `handoff ${id} rejected`)
    return (verdict.body as protocol.Reject).reason
  }

  await peer.handoff(1, fd, { target: 'video' })
  t.equal(await reasonOf(1), 'unknown-target', 'a target this receiver does not serve')

  await peer.handoff(2, fd, { deadline: Date.now() - 1 })
  t.equal(await reasonOf(2), 'expired', 'decided after the deadline: no ACCEPT')

  // Metadata the codec refuses: a valid frame around a meta without "kind".
  const good = protocol.encodeHandoff(3, { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) })
  const badMeta = Buffer.from('{"keepAlive":false,"sentAt":0}')
  const body = Buffer.concat([Buffer.from([0, 0, 0, badMeta.length]), badMeta, Buffer.alloc(8)])
  const frame = Buffer.concat([good.subarray(0, protocol.HEADER_SIZE), body])
  frame.writeUInt32BE(body.length, 12)
  await peer.channel.send(frame, [fd])
  t.equal(await reasonOf(3), 'bad-metadata')

  // A HANDOFF that declares no descriptor (and brings none).
  const none = Buffer.from(good)
  none.writeUInt8(0, 5)
  await peer.channel.send(none)
  t.equal(await reasonOf(3), 'descriptors-missing')

  // A HANDOFF that declares one descriptor but brings two.
  const two = protocol.encodeHandoff(4, { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) })
  await peer.channel.send(two, [fd, fd])
  t.equal(await reasonOf(4), 'too-many-descriptors')

  t.equal(receiver.fds(), receiverFds, 'every passed descriptor was closed in the receiver')
  t.equal((await receiver.request('stats')).stats.rejected, 5)

  // And the channel still works: a good one is accepted.
  await peer.handoff(5, fd, { target: 'chat', kind: 'raw' }, '')
  const verdict = await peer.verdict(5)
  t.equal(verdict.type, FrameType.Accept, 'a valid handoff on the same channel is accepted')
  t.same(verdict.body, { live: 1, max: null })
  serverSide.destroy() // our copy; the receiver's copy keeps the connection up
  const line = await new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())))
  t.match(line, /^\{"pid":/, 'served by the receiver')
  client.end()
  await new Promise<void>((resolve) => client.once('close', () => resolve()))
  await receiver.request('idle')
  t.equal(receiver.fds(), receiverFds)
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await peer.close()
  await stopChild(t, receiver, 'close')
})

t.test('protocol violations drop only that peer; the receiver keeps serving', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, helloTimeout: 300 })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  const receiverFds = receiver.fds()

  const errorOf = async (peer: TestPeer): Promise<string> => {
    const error = await peer.waitFor(FrameType.Error)
    await peer.closed
    await receiver.event('error') // reported on the receiver's side too
    return (error.body as protocol.ErrorBody).reason
  }

  const silent = await TestPeer.connect(sockPath, false)
  t.equal(await errorOf(silent), 'timeout', 'no HELLO in time: ERROR "timeout"')

  const early = await TestPeer.connect(sockPath, false)
  const [x, y] = binding.socketpair()
  await early.channel.send(protocol.encodeHandoff(1, { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) }), [x])
  t.equal(await errorOf(early), 'unexpected-frame', 'a HANDOFF before HELLO')
  binding.closeFd(x)
  binding.closeFd(y)

  // Its body does not matter: out of place is ERROR "unexpected-frame", never a REJECT reason.
  const earlyGarbled = await TestPeer.connect(sockPath, false)
  const [p, q] = binding.socketpair()
  const garbledBody = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}'), Buffer.alloc(8)])
  await earlyGarbled.channel.send(protocol.encodeFrame(FrameType.Handoff, 1, garbledBody, 1), [p])
  t.equal(await errorOf(earlyGarbled), 'unexpected-frame', 'a HANDOFF with unreadable metadata before HELLO')
  binding.closeFd(p)
  binding.closeFd(q)

  const twin = await TestPeer.connect(sockPath, { role: 'receiver' })
  t.equal(await errorOf(twin), 'role-mismatch', 'two receivers')

  const chatty = await TestPeer.connect(sockPath)
  await chatty.channel.send(protocol.encodeStatus({ live: 0, max: null, draining: false }))
  t.equal(await errorOf(chatty), 'unexpected-frame', 'a frame only a receiver sends')

  const garbage = await TestPeer.connect(sockPath)
  await garbage.waitFor(FrameType.Hello)
  await garbage.channel.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
  await garbage.closed
  t.match(await receiver.event('error'), { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-magic' }, 'a bad header: the channel is dropped')

  // Meanwhile the good sender was never disturbed.
  const client = rawClient(sender.port)
  client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await sender.event('accept')
  t.match((await client.ended).toString(), /^\{"pid":/)
  await client.closed
  const stats = (await receiver.request('idle')).stats
  t.equal(stats.peers, 1, 'only the good sender is left')
  t.equal(receiver.fds(), receiverFds, 'no descriptor left behind by the dropped peers')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('a sender that ends with ERROR: ERR_HANDOFF_PEER_ERROR, only that channel dropped', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const peer = await TestPeer.connect(sockPath)
  await peer.waitFor(FrameType.Hello)
  await receiver.event('peer')
  await peer.channel.send(protocol.encodeError({ reason: 'internal', message: 'the sender gives up' }))
  await peer.closed
  t.match(await receiver.event('error'), { code: 'ERR_HANDOFF_PEER_ERROR', message: /ERROR internal: the sender gives up/ })
  await receiver.event('peerClose')
  t.equal((await receiver.request('stats')).stats.peers, 0)
  await stopChild(t, receiver, 'close')
})

t.test('a HANDOFF reusing the id of one still in flight: ERROR "duplicate-id", only that channel dropped', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, frameTimeout: 60000 })
  // (frameTimeout is also how long the receiver waits for this paused peer to
  // read its queued verdicts and ERROR before it closes: a loaded machine may
  // take seconds to tell us about the error and resume it.)
  const receiverFds = receiver.fds()
  // One TCP connection whose descriptor rides on every HANDOFF (each one a
  // copy): what is served on it does not matter here, only the verdicts.
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  client.resume()
  const [accepted] = await Promise.all([
    new Promise<net.Socket>((resolve) => server.once('connection', resolve)),
    new Promise((resolve) => client.once('connect', resolve))
  ])
  accepted.on('error', () => {})
  const fd = (accepted as unknown as { _handle: { fd: number } })._handle.fd

  // A verdict stays "in flight" until it is in the kernel. This peer reads
  // nothing, so once the channel's buffer is full (a few hundred verdicts:
  // the kernel counts each message's overhead, not only its bytes), later
  // verdicts wait in the receiver's queue with their ids in flight.
  const peer = await TestPeer.connect(sockPath)
  peer.channel.pause()
  const handoff = (id: number): Buffer => protocol.encodeHandoff(id, { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) })
  const COUNT = 3000
  for (let id = 1; id <= COUNT; id++) await peer.channel.send(handoff(id), [fd])
  await peer.channel.send(handoff(COUNT), [fd])
  const error = await receiver.event('error', (e) => /reuses the id/.test(e.message))
  t.match(error.message, new RegExp(`HANDOFF ${COUNT} reuses the id of a handoff still in flight`), 'the receiver reports it')
  peer.channel.resume()
  const frame = await peer.waitFor(FrameType.Error)
  t.equal((frame.body as protocol.ErrorBody).reason, 'duplicate-id', 'ERROR "duplicate-id" once the verdicts before it are read')
  await peer.closed

  // The receiver goes on: a new peer is served.
  const fresh = await TestPeer.connect(sockPath)
  await fresh.channel.send(handoff(1), [fd])
  const verdict = await fresh.waitFor(FrameType.Accept)
  t.equal(verdict.id, 1, 'a new peer gets its ACCEPT')
  fresh.channel.close()
  await fresh.closed
  accepted.destroy()
  client.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await receiver.event('peerClose')
  await receiver.event('peerClose')
  const stats = (await receiver.request('idle')).stats
  t.equal(stats.peers, 0, 'both channels are gone')
  t.equal(receiver.fds(), receiverFds, 'no descriptor left behind in the receiver')
  await stopChild(t, receiver, 'close')
})
