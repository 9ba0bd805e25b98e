// What one trusted peer can make the receiver hold: a frame must be complete
// within frameTimeout of its first byte (then ERROR "timeout", the peer
// dropped, the partial frame's descriptors closed), and no frame may be
// larger than the largest HANDOFF (the maxFrameSize of the receiver's HELLO).
// Meanwhile every other sender is served.
import t, { type Test } from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { binding } from '../../plugin/native.js'
import { Channel } from '../../plugin/channel.js'
import * as protocol from '../../plugin/protocol/index.js'
import { TestPeer, rawClient, startReceiver, startSender, stopChild, tmpDir, type Child } from './helpers.js'

const { FrameType } = protocol

/** A generous limit on a wait for the receiver's doing, that says what was awaited. */
async function within<T> (what: string, pending: Promise<T>, ms = 20000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([pending, limit])
  } finally {
    clearTimeout(timer)
  }
}

/** A HANDOFF frame of `size` bytes (its buffered section fills the rest). */
function handoffOf (id: number, size: number): Buffer {
  const head = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  const empty = protocol.encodeHandoff(id, { meta: { kind: 'request', keepAlive: true, sentAt: 0 }, head, buffered: Buffer.alloc(0) })
  return protocol.encodeHandoff(id, {
    meta: { kind: 'request', keepAlive: true, sentAt: 0 },
    head,
    buffered: Buffer.alloc(size - empty.length, 0x61)
  })
}

/** The first `count` bytes of a HANDOFF declaring `size` bytes (zeros after its header: never read whole). */
function handoffStart (size: number, count: number): Buffer {
  const start = Buffer.alloc(count)
  handoffOf(1, 1024).copy(start, 0, 0, protocol.HEADER_SIZE)
  start.writeUInt32BE(size - protocol.HEADER_SIZE, 12)
  return start
}

/**
 * A socketpair whose first end goes to the receiver; resolves once every
 * copy of that end is closed (the other end reads end-of-stream), which is
 * the receiver's own doing once ours is closed.
 */
function watchedPair (): { fd: number, allClosed: Promise<void> } {
  const [fd, watchFd] = binding.socketpair()
  const watch = new Channel(watchFd, protocol.protocolFramer)
  watch.on('error', () => {})
  const allClosed = new Promise<void>((resolve) => watch.once('close', () => resolve()))
  return { fd, allClosed }
}

/** A sender whose channel is up, and the receiver's descriptor count with it. */
async function setup (t: Test, config: object): Promise<{ receiver: Child, sender: Child & { port: number }, sockPath: string, fds: number }> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, ...config })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  return { receiver, sender, sockPath, fds: receiver.fds() }
}

/** The good sender still hands off, and the receiver serves it. */
async function stillServes (t: Test, receiver: Child, sender: Child & { port: number }): Promise<void> {
  const client = rawClient(sender.port)
  client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await sender.event('accept')
  t.match((await client.ended).toString(), /^\{"pid":/, 'another sender\'s handoff is served meanwhile')
  await client.closed
  await receiver.request('idle')
}

t.test('a trusted peer that stalls in the middle of a frame: ERROR "timeout" after frameTimeout, dropped, its descriptor closed', async (t) => {
  checkFdLeaks(t)
  const { receiver, sender, sockPath, fds } = await setup(t, { frameTimeout: 200 })
  const peer = await TestPeer.connect(sockPath)
  const hello = await peer.waitFor(FrameType.Hello)
  await receiver.event('peer', (m) => m.peer.pid === process.pid)

  // All of a HANDOFF but its last byte, with its descriptor: the receiver holds both.
  const client = watchedPair()
  const frame = handoffOf(1, 64 * 1024) // small enough for the kernel to take at once
  await peer.channel.send(frame.subarray(0, frame.length - 1), [client.fd])
  binding.closeFd(client.fd) // from now on only the receiver's copy keeps it open

  const error = await within('ERROR from the receiver', peer.waitFor(FrameType.Error))
  t.equal((error.body as protocol.ErrorBody).reason, 'timeout', 'ERROR "timeout"')
  t.match((error.body as protocol.ErrorBody).message, /did not complete it within 200 ms/)
  await peer.closed
  const reported = await receiver.event('error', (m) => m.code === 'ERR_HANDOFF_FRAME_TIMEOUT')
  t.ok(reported, 'reported on the receiver\'s side')
  await within('end of stream on the passed socket (every copy closed)', client.allClosed)
  t.pass('the receiver closed the descriptor of the partial frame')
  t.equal((hello.body as protocol.Hello).maxFrameSize, protocol.MAX_HANDOFF_FRAME_SIZE, 'the receiver asks for frames no larger than the largest HANDOFF')

  await stillServes(t, receiver, sender)
  const stats = (await receiver.request('stats')).stats
  t.equal(stats.peers, 1, 'only the good sender is left')
  t.equal(stats.total, 1)
  t.equal(receiver.fds(), fds, 'nothing left behind')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('the deadline is for the whole frame: a peer that trickles bytes is dropped too, as are many stalled at once', async (t) => {
  checkFdLeaks(t)
  const { receiver, sender, sockPath, fds } = await setup(t, { frameTimeout: 200 })

  // Bounded: one byte every 20 ms until the ERROR, at most 2,000 of them.
  const trickler = await TestPeer.connect(sockPath)
  await trickler.waitFor(FrameType.Hello)
  const frame = handoffOf(1, 64 * 1024)
  let sent = protocol.HEADER_SIZE
  await trickler.channel.send(frame.subarray(0, sent))
  const timer = setInterval(() => {
    if (trickler.ended || sent >= 2000) {
      clearInterval(timer)
      return
    }
    trickler.channel.send(frame.subarray(sent, sent + 1)).catch(() => {})
    sent++
  }, 20)
  t.teardown(() => clearInterval(timer))
  const error = await within('ERROR for the trickling peer', trickler.waitFor(FrameType.Error))
  t.equal((error.body as protocol.ErrorBody).reason, 'timeout', 'bytes kept coming, but the frame did not complete: ERROR "timeout"')
  await trickler.closed
  clearInterval(timer)

  // 16 peers, each holding just under the largest frame the receiver takes.
  const many = await Promise.all(Array.from({ length: 16 }, async () => {
    const peer = await TestPeer.connect(sockPath)
    await peer.waitFor(FrameType.Hello)
    // Not awaited: the receiver may drop it before the kernel has taken all of it (then the send fails).
    peer.channel.send(handoffStart(protocol.MAX_HANDOFF_FRAME_SIZE, protocol.MAX_HANDOFF_FRAME_SIZE - 1)).catch(() => {})
    return peer
  }))
  const reasons = await Promise.all(many.map(async (peer) => {
    const err = await within('ERROR for a stalled peer', peer.waitFor(FrameType.Error))
    await peer.closed
    return (err.body as protocol.ErrorBody).reason
  }))
  t.same(reasons, Array(16).fill('timeout'), 'every stalled peer was dropped with ERROR "timeout"')

  await stillServes(t, receiver, sender)
  t.equal((await receiver.request('stats')).stats.peers, 1, 'only the good sender is left')
  t.equal(receiver.fds(), fds)
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('a frame larger than the largest HANDOFF: the peer is dropped before any of its body is held', async (t) => {
  checkFdLeaks(t)
  const { receiver, sender, sockPath, fds } = await setup(t, {})
  const peer = await TestPeer.connect(sockPath)
  await peer.waitFor(FrameType.Hello)
  // Within the protocol's default 1 MiB, one byte over what this receiver's HELLO asked for.
  await peer.channel.send(handoffStart(protocol.MAX_HANDOFF_FRAME_SIZE + 1, protocol.HEADER_SIZE))
  await within('close of the channel by the receiver', peer.closed)
  const reported = await receiver.event('error', (m) => m.code === 'ERR_HANDOFF_PROTOCOL' && m.reason === 'frame-too-large')
  t.match(reported.message, /exceeds the limit of 655388/, 'refused on its header')

  await stillServes(t, receiver, sender)
  t.equal((await receiver.request('stats')).stats.peers, 1)
  t.equal(receiver.fds(), fds)
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})
