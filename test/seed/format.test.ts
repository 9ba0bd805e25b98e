// The Go format on a Channel pair: one byte + one descriptor a message.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import { Channel, closeFds } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { FdReceiver, SEED_BYTE, createSeedChannel, seedFramer, sendFd } from '../../plugin/seed/index.js'
import { checkFdLeaks } from '../helpers/fds.js'

function pair (t: Test, highWaterMark?: number): { tx: Channel, rx: FdReceiver } {
  const [a, b] = binding.socketpair()
  const tx = createSeedChannel(a)
  const rx = new FdReceiver(createSeedChannel(b), { highWaterMark })
  t.teardown(() => closed(tx, rx))
  return { tx, rx }
}

async function closed (tx: Channel, rx: FdReceiver): Promise<void> {
  const waits = [tx, rx.channel].filter((c) => !c.closed).map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())))
  tx.close()
  rx.close()
  await Promise.all(waits)
}

/** A descriptor to pass around, and the inode that identifies what it refers to. */
function openSocket (t: Test): { fd: number, ino: number } {
  const [x, y] = binding.socketpair()
  t.teardown(() => closeFds([x, y]))
  return { fd: x, ino: fs.fstatSync(x).ino }
}

t.test('the framer: every byte is a frame declaring one descriptor', async (t) => {
  checkFdLeaks(t)
  t.equal(seedFramer.headerSize, 1)
  t.equal(seedFramer.maxFrameSize, 1)
  t.same(seedFramer.parse(Buffer.from([SEED_BYTE])), { frameSize: 1, fdCount: 1 })
  t.same(seedFramer.parse(Buffer.from([0xff])), { frameSize: 1, fdCount: 1 }, 'whatever the byte')
  t.ok(Object.isFrozen(seedFramer))
})

t.test('sendFd / recv: the descriptor arrives, refers to the same socket, and the sender may close its copy', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t)
  const sock = openSocket(t)
  await sendFd(tx, sock.fd)
  const fd = await rx.recv()
  t.not(fd, sock.fd, 'a new descriptor number in this process')
  t.equal(fs.fstatSync(fd).ino, sock.ino, 'same socket')
  t.same(binding.fdInfo(fd), { kind: 'socket', family: 'unix', type: 'stream', listening: false })
  closeFds([fd])
})

t.test('the byte value is ignored on receipt (a Go peer may send any)', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t)
  const sock = openSocket(t)
  await tx.send(Buffer.from('x'), [sock.fd])
  const fd = await rx.recv()
  t.equal(fs.fstatSync(fd).ino, sock.ino)
  closeFds([fd])
})

t.test('many messages back to back arrive in order', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t)
  const socks = Array.from({ length: 40 }, () => openSocket(t))
  await Promise.all(socks.map((s) => sendFd(tx, s.fd)))
  for (const s of socks) {
    const fd = await rx.recv()
    t.equal(fs.fstatSync(fd).ino, s.ino)
    closeFds([fd])
  }
})

t.test('a byte without a descriptor: ERR_HANDOFF_FD_MISMATCH in its place, then the next message', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t)
  const sock = openSocket(t)
  await tx.send(Buffer.from([SEED_BYTE]))
  await sendFd(tx, sock.fd)
  await t.rejects(rx.recv(), { code: 'ERR_HANDOFF_FD_MISMATCH', message: /declared 1 descriptor\(s\) but 0 arrived/ })
  const fd = await rx.recv()
  t.equal(fs.fstatSync(fd).ino, sock.ino, 'the receiver goes on')
  closeFds([fd])
})

t.test('a byte with two descriptors: ERR_HANDOFF_FD_MISMATCH, both closed by the Channel', async (t) => {
  checkFdLeaks(t) // the two received copies must be closed for this to pass
  const { tx, rx } = pair(t)
  const a = openSocket(t)
  const b = openSocket(t)
  const before = fs.readdirSync('/proc/self/fd').length
  await tx.send(Buffer.from([SEED_BYTE]), [a.fd, b.fd])
  await t.rejects(rx.recv(), { code: 'ERR_HANDOFF_FD_MISMATCH', message: /declared 1 descriptor\(s\) but 2 arrived/ })
  t.equal(fs.readdirSync('/proc/self/fd').length, before, 'no received copy left open')
  await sendFd(tx, a.fd)
  const fd = await rx.recv()
  t.equal(fs.fstatSync(fd).ino, a.ino, 'the receiver goes on')
  closeFds([fd])
})

t.test('recv after the peer closed: ERR_HANDOFF_CHANNEL_CLOSED, after what was already received', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t)
  const sock = openSocket(t)
  await sendFd(tx, sock.fd)
  tx.close()
  const fd = await rx.recv()
  t.equal(fs.fstatSync(fd).ino, sock.ino)
  closeFds([fd])
  await t.rejects(rx.recv(), { code: 'ERR_HANDOFF_CHANNEL_CLOSED' })
  t.equal(rx.done, true)
  await t.rejects(rx.recv(), { code: 'ERR_HANDOFF_CHANNEL_CLOSED' }, 'and again')
})

t.test('close() rejects a pending recv', async (t) => {
  checkFdLeaks(t)
  const { rx } = pair(t)
  const pending = rx.recv()
  rx.close()
  await t.rejects(pending, { code: 'ERR_HANDOFF_CHANNEL_CLOSED' })
  await t.rejects(rx.recv(), { code: 'ERR_HANDOFF_CHANNEL_CLOSED' })
})

t.test('close() with descriptors still queued closes them', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t, 2)
  const socks = [openSocket(t), openSocket(t), openSocket(t), openSocket(t)]
  await Promise.all(socks.map((s) => sendFd(tx, s.fd)))
  // Taking one proves they are flowing; the others stay queued (or in the
  // kernel while the channel is paused at the high-water mark).
  closeFds([await rx.recv()])
  rx.close() // the leak check proves the queued copies were closed
  t.equal(rx.channel.closed, true)
})

t.test('back-pressure: with highWaterMark 2, 30 messages all arrive, in order', async (t) => {
  checkFdLeaks(t)
  const { tx, rx } = pair(t, 2)
  const socks = Array.from({ length: 30 }, () => openSocket(t))
  const sent = Promise.all(socks.map((s) => sendFd(tx, s.fd)))
  for (const s of socks) {
    const fd = await rx.recv()
    t.equal(fs.fstatSync(fd).ino, s.ino)
    closeFds([fd])
  }
  await sent
})
