// The Channel on a socketpair in this process: what it promises about pause,
// about frames cut anywhere, about send() errors (typed, and only fatal when
// the socket is), and about oversized frames.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import { Channel } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { createTestFramer, encodeTestFrame, testFrameBody, frameQueue, once, closeAll } from '../fixtures/channel-common.js'

const framer = createTestFramer()

function systemError (t: Test, err: any, code: string, syscall: string): void {
  t.match(err, { code, syscall }, `${code} from ${syscall}`)
  t.equal(err.errno, -os.constants.errno[code as keyof typeof os.constants.errno], `errno ${err.errno} (negative, as Node's)`)
}

t.test('pause() stops deliveries, also of frames already read; resume() delivers them in order', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const frames = [1, 2, 3, 4].map((n) => encodeTestFrame(`frame ${n}`))
  const seen: string[] = []
  let paused = false
  let whilePaused = 0
  const all = new Promise<void>((resolve) => {
    b.on('message', (frame) => {
      if (paused) whilePaused++
      seen.push(testFrameBody(frame).toString())
      if (seen.length === 1) {
        // The other three frames came in the same read as this one.
        paused = true
        b.pause()
        setImmediate(() => setImmediate(() => {
          paused = false
          b.resume()
        }))
      }
      if (seen.length === frames.length) resolve()
    })
  })
  await a.send(Buffer.concat(frames)) // one write, one read
  await all
  t.equal(whilePaused, 0, 'nothing was delivered while paused')
  t.same(seen, ['frame 1', 'frame 2', 'frame 3', 'frame 4'], 'all delivered after resume, in order')
  await closeAll(a, b)
})

t.test('the end of the stream read while paused waits for resume(): every whole frame first, then \'end\'', async (t) => {
  checkFdLeaks(t)
  const [x, y] = binding.socketpair()
  const [p, q] = binding.socketpair()
  // Frames 1 and 2, then frame 3 with a descriptor, then the end of the
  // stream, all waiting in the kernel before the receiving channel exists: its
  // first poll event reads them all (one read, the descriptor ending it) and
  // then the end.
  const a = new Channel(x, framer)
  await a.send(Buffer.concat([encodeTestFrame('frame 1'), encodeTestFrame('frame 2')]))
  await a.send(encodeTestFrame('frame 3', 1), [q])
  binding.closeFd(q)
  await closeAll(a)
  const b = new Channel(y, framer)
  const events: string[] = []
  const ended = new Promise<void>((resolve) => {
    b.on('message', (frame, fds) => {
      events.push(testFrameBody(frame).toString())
      for (const fd of fds) binding.closeFd(fd)
      if (events.length === 1) {
        b.pause()
        setImmediate(() => setImmediate(() => b.resume()))
      }
    })
    b.on('frameError', (err) => events.push(`frameError ${(err as { code?: string }).code}`))
    b.on('end', () => { events.push('end'); resolve() })
  })
  await ended
  t.same(events, ['frame 1', 'frame 2', 'frame 3', 'end'], 'frames 2 and 3 after resume, then the end; no frame lost')
  binding.closeFd(p)
  await closeAll(b)
})

t.test('a frame with descriptors, written one byte per send, arrives whole with its descriptors', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const received = frameQueue(b)
  const [x, y] = binding.socketpair()
  const frame = encodeTestFrame('byte by byte', 1)
  const sends = [a.send(frame.subarray(0, 1), [y])]
  for (let i = 1; i < frame.length; i++) sends.push(a.send(frame.subarray(i, i + 1)))
  await Promise.all(sends)
  binding.closeFd(y)
  const { frame: got, fds } = await received.next()
  t.same(got, frame, 'the frame is whole')
  t.equal(fds.length, 1, 'with its descriptor')
  t.equal(binding.fdInfo(fds[0]).kind, 'socket')
  binding.closeFd(fds[0])
  binding.closeFd(x)
  await closeAll(a, b)
})

t.test('send(): refused frames fail alone, typed; the channel goes on', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const received = frameQueue(b)
  const [x, y] = binding.socketpair()
  binding.closeFd(y) // y is now a dead number
  const dead = await a.send(encodeTestFrame('dead', 1), [y]).then(() => null, (e: unknown) => e)
  systemError(t, dead, 'EBADF', 'sendmsg')
  await t.rejects(a.send(Buffer.alloc(0)), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, 'an empty frame: RangeError')
  await t.rejects(a.send(encodeTestFrame('not a descriptor', 1), ['0' as unknown as number]), TypeError,
    'a descriptor that is not a number: TypeError (and nothing is sent)')
  const tooMany = new Array(254).fill(x)
  await t.rejects(a.send(encodeTestFrame('too many', 254), tooMany), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, '254 descriptors: RangeError')
  const ok = encodeTestFrame('after the refusals')
  await a.send(ok)
  t.same((await received.next()).frame, ok, 'the next frame goes through')
  t.equal(a.pending, 0, 'nothing left pending')
  binding.closeFd(x)
  await closeAll(a, b)
  await t.rejects(a.send(ok), { code: 'ERR_HANDOFF_CHANNEL_CLOSED' }, 'send on a closed channel: ERR_HANDOFF_CHANNEL_CLOSED')
})

t.test('send(): a dead descriptor behind queued frames fails alone too', async (t) => {
  checkFdLeaks(t)
  const [a, b] = binding.socketpair()
  binding.setBufferSizes(a, 4096, 4096)
  const sender = new Channel(a, framer)
  const peer = new Channel(b, framer).pause() // reads nothing until resumed
  const received = frameQueue(peer)
  const big = encodeTestFrame(Buffer.alloc(64 * 1024, 0x64))
  const queued = sender.send(big)
  t.ok(sender.pending > 0, 'a frame waits in the queue')
  const [x, y] = binding.socketpair()
  binding.closeFd(y)
  const dead = await sender.send(encodeTestFrame('dead', 1), [y]).then(() => null, (e: unknown) => e)
  systemError(t, dead, 'EBADF', 'sendmsg')
  const ok = encodeTestFrame('after the queue')
  const sent = sender.send(ok)
  peer.resume()
  await Promise.all([queued, sent])
  t.same((await received.next()).frame, big, 'the queued frame arrives whole')
  t.same((await received.next()).frame, ok, 'and the next one after it: the channel went on')
  binding.closeFd(x)
  await closeAll(sender, peer)
})

t.test('a descriptor another channel already watches is refused (EEXIST from uv_poll_init); the first channel goes on', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const received = frameQueue(b)
  const twice = (() => { try { return new Channel(a.fd, framer) } catch (err) { return err } })()
  systemError(t, twice, 'EEXIST', 'uv_poll_init')
  const frame = encodeTestFrame('still here')
  await a.send(frame)
  t.same((await received.next()).frame, frame, 'the first channel still carries frames')
  await closeAll(a, b)
})

t.test('close() rejects what is still queued; a vanished peer is a typed fatal error', async (t) => {
  checkFdLeaks(t)
  const [a, b] = binding.socketpair()
  binding.setBufferSizes(a, 4096, 4096)
  const sender = new Channel(a, framer)
  const peer = new Channel(b, framer).pause() // reads nothing
  const big = encodeTestFrame(Buffer.alloc(64 * 1024, 0x63))
  const queued = [sender.send(big), sender.send(big)]
  t.ok(sender.pending > 0, `${sender.pending} frames wait in the queue`)
  await closeAll(peer)
  // The peer's socket is closed with our bytes unread: the next write fails.
  const failed = once(sender, 'error')
  const more = sender.send(encodeTestFrame('into the void'))
  // Every frame not written fails with the write's error at once; the
  // channel's own 'error' follows once the stream's end has been read.
  const settled = Promise.allSettled([...queued, more])
  const [err] = await failed as [any]
  t.ok(['EPIPE', 'ECONNRESET'].includes(err.code), `fatal ${err.code}`)
  systemError(t, err, err.code, 'sendmsg')
  t.ok(sender.closed, 'the channel closed itself')
  const results = await settled
  t.ok(results.every((r) => r.status === 'rejected'), 'every queued frame was rejected')
  t.ok(results.every((r) => r.status === 'rejected' && (r.reason as any).code === err.code),
    `those never written: the write's own error (${err.code})`)
  await once(sender, 'close')
})

t.test('a write that fails (the peer is gone) does not drop what the peer wrote before it went: frames first, then the error', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  a.pause() // a reads nothing until told: the peer's frame waits in the kernel
  await b.send(encodeTestFrame('a verdict written just before the peer went'))
  await closeAll(b)
  const events: string[] = []
  a.on('message', (frame) => events.push(`message: ${testFrameBody(frame).toString()}`))
  const failed = once(a, 'error')
  // The write hits the closed peer at once (EPIPE): before the fix the
  // channel failed here and the frame above was never delivered.
  const write = a.send(encodeTestFrame('into the void'))
  const [writeErr] = await Promise.allSettled([write]).then((r) => r.map((x) => x.status === 'rejected' ? x.reason : null)) as [any]
  t.ok(writeErr !== null && ['EPIPE', 'ECONNRESET'].includes(writeErr.code), `the write fails: ${writeErr?.code}`)
  t.notOk(a.closed, 'the channel still reads after a failed write')
  const later = await a.send(encodeTestFrame('after the failure')).then(() => null, (e) => e)
  t.equal(later?.code, writeErr.code, 'a later send fails with the same error, nothing written')
  a.resume()
  const [err] = await failed as [any]
  events.push(`error: ${err.code}`)
  t.same(events, ['message: a verdict written just before the peer went', `error: ${writeErr.code}`],
    'the frame the peer wrote is delivered first, then the write\'s error')
  await once(a, 'close')
})

t.test('a peer that goes with our bytes unread (a reset pending): what it wrote before it went is still delivered, then ECONNRESET', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  a.pause()
  b.pause()
  await a.send(encodeTestFrame('a HANDOFF the peer never reads'))
  await b.send(encodeTestFrame('a verdict written just before the peer went'))
  // b closes with a's frame unread: the kernel marks a's socket ECONNRESET,
  // which recvmmsg reports ahead of the verdict still queued.
  await closeAll(b)
  const events: string[] = []
  a.on('message', (frame) => events.push(`message: ${testFrameBody(frame).toString()}`))
  const failed = once(a, 'error')
  a.resume()
  const [err] = await failed as [any]
  events.push(`error: ${err.code}`)
  t.same(events, ['message: a verdict written just before the peer went', 'error: ECONNRESET'],
    'the verdict first, then the reset')
  await once(a, 'close')
})

t.test('a header declaring more than maxFrameSize is fatal: ERR_HANDOFF_PROTOCOL frame-too-large', async (t) => {
  checkFdLeaks(t)
  const strict = Channel.pair(createTestFramer(1024))
  const errored = once(strict[1], 'error')
  await strict[0].send(encodeTestFrame('', 0, 1024))
  const [err] = await errored as [any]
  t.match(err, { code: 'ERR_HANDOFF_PROTOCOL', reason: 'frame-too-large', fatal: true })
  t.ok(strict[1].closed, 'the channel closed itself')
  await once(strict[1], 'close')
  await closeAll(strict[0])
})

t.test('frameTimeout: a frame begun and not complete in time is given up, its descriptors closed; whole frames never are', async (t) => {
  checkFdLeaks(t)
  const [x, y] = binding.socketpair()
  const a = new Channel(x, framer)
  const b = new Channel(y, framer, { frameTimeout: 100 })
  const bodies: string[] = []
  b.on('message', (frame) => bodies.push(testFrameBody(frame).toString()))
  await a.send(encodeTestFrame('whole'))
  // A frame declaring 10 body bytes, its descriptor with the first 4 of them; our copy closed at once.
  const [p, q] = binding.socketpair()
  const watch = new Channel(q, framer)
  const watchClosed = once(watch, 'close')
  const stalled = once(b, 'frameTimeout')
  await a.send(encodeTestFrame('1234', 1, 10), [p])
  binding.closeFd(p)
  const [err] = await stalled as [any]
  t.equal(err.code, 'ERR_HANDOFF_FRAME_TIMEOUT')
  t.match(err.message, /within 100 ms/)
  t.same(bodies, ['whole'], 'the whole frame before it was delivered')
  await watchClosed
  t.pass('the descriptor of the partial frame was closed (its peer read the end of the stream)')
  t.notOk(b.closed, 'the owner decides: the channel is still open')
  const said = once(a, 'message')
  await b.send(encodeTestFrame('why'))
  t.equal(testFrameBody((await said as [Buffer])[0]).toString(), 'why', 'and still writes (the owner says why before closing)')
  await closeAll(a, b)
})

t.test('frameTimeout without a \'frameTimeout\' listener: the channel fails itself', async (t) => {
  checkFdLeaks(t)
  const [x, y] = binding.socketpair()
  const a = new Channel(x, framer)
  const b = new Channel(y, framer, { frameTimeout: 100 })
  const errored = once(b, 'error')
  await a.send(encodeTestFrame('', 0, 10).subarray(0, 5)) // 5 of the 8 header bytes
  const [err] = await errored as [any]
  t.equal(err.code, 'ERR_HANDOFF_FRAME_TIMEOUT', 'a partial header counts too')
  await once(b, 'close')
  await closeAll(a)
})

t.test('a Framer that gives a size smaller than its header is fatal: ERR_HANDOFF_PROTOCOL bad-frame, not an endless loop', async (t) => {
  checkFdLeaks(t)
  const broken = { headerSize: 4, maxFrameSize: 1024, parse: () => ({ frameSize: 0, fdCount: 0 }) }
  const [a, b] = Channel.pair(broken)
  const errored = once(b, 'error')
  await a.send(Buffer.from('abcd'))
  const [err] = await errored as [any]
  t.match(err, { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-frame', fatal: true })
  t.ok(b.closed, 'the channel closed itself')
  await once(b, 'close')
  await closeAll(a)
})

t.test('system errors from the binding have code, errno and syscall', async (t) => {
  checkFdLeaks(t)
  const file = fs.openSync('/dev/null', 'r')
  const [x, y] = binding.socketpair()
  binding.closeFd(y) // a dead number; nothing below opens a descriptor that could reuse it
  const calls: Array<[string, string, () => unknown]> = [
    ['EBADF', 'close', () => binding.closeFd(y)],
    ['EBADF', 'fstat', () => binding.fdInfo(y)],
    ['EBADF', 'setsockopt', () => binding.setBufferSizes(y, 4096, 0)],
    ['EBADF', 'getsockopt', () => binding.peerCredentials(y)],
    ['ENOTSOCK', 'getsockopt', () => binding.peerCredentials(file)]
  ]
  for (const [code, syscall, call] of calls) {
    let thrown: unknown = null
    try { call() } catch (err) { thrown = err }
    t.type(thrown, Error)
    systemError(t, thrown, code, syscall)
  }
  binding.closeFd(x)
  fs.closeSync(file)
})
