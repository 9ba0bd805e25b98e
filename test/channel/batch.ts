// Replies written while the frames of one read are delivered (a receiver's
// ACCEPTs, one per HANDOFF) leave together when the read is done: one
// sendmsg, one wake-up of the peer. What must hold all the same: each
// reply's callback, stream order beside frames with descriptors, and a
// reply written just before close() still reaching the peer.
import t from 'tap'
import { Channel } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { createTestFramer, encodeTestFrame, testFrameBody, frameQueue, once, closeAll } from '../fixtures/channel-common.js'

const framer = createTestFramer()

t.test('replies to the frames of one read are written after the last of them is delivered, each callback called once, in order', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const answers = frameQueue(a)
  const events: string[] = []
  const written = new Promise<void>((resolve) => {
    b.on('message', (frame) => {
      const body = testFrameBody(frame).toString()
      events.push(`delivered ${body}`)
      b.sendWithCallback(encodeTestFrame(`re: ${body}`), [], (err) => {
        events.push(`written re: ${body}${err === null || err === undefined ? '' : ` (${String(err)})`}`)
        if (body === 'frame 3') resolve()
      })
    })
  })
  await a.send(Buffer.concat([1, 2, 3].map((n) => encodeTestFrame(`frame ${n}`)))) // one write, one read
  await written
  t.same(events, [
    'delivered frame 1', 'delivered frame 2', 'delivered frame 3',
    'written re: frame 1', 'written re: frame 2', 'written re: frame 3'
  ], 'every frame of the read delivered first, then the replies written together')
  const got: string[] = []
  for (let i = 0; i < 3; i++) got.push(testFrameBody((await answers.next()).frame).toString())
  t.same(got, ['re: frame 1', 're: frame 2', 're: frame 3'], 'the peer reads them whole and in order')
  await closeAll(a, b)
})

t.test('a frame with descriptors sent among the replies keeps its place in the stream', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const [p, q] = binding.socketpair()
  const answers = frameQueue(a)
  b.on('message', (frame) => {
    const body = testFrameBody(frame).toString()
    b.sendWithCallback(encodeTestFrame(`re: ${body}`), [], () => {})
    if (body === 'frame 1') {
      b.sendWithCallback(encodeTestFrame('with a descriptor', 1), [q], () => binding.closeFd(q))
    }
  })
  await a.send(Buffer.concat([1, 2].map((n) => encodeTestFrame(`frame ${n}`))))
  const got: string[] = []
  for (let i = 0; i < 3; i++) {
    const { frame, fds } = await answers.next()
    got.push(`${testFrameBody(frame).toString()}${fds.length > 0 ? ` [${fds.length} fd]` : ''}`)
    for (const fd of fds) binding.closeFd(fd)
  }
  t.same(got, ['re: frame 1', 'with a descriptor [1 fd]', 're: frame 2'], 'stream order as sent')
  binding.closeFd(p)
  await closeAll(a, b)
})

t.test('a reply written just before close() in the same read still reaches the peer', async (t) => {
  checkFdLeaks(t)
  const [a, b] = Channel.pair(framer)
  const answers = frameQueue(a)
  let callback: unknown = 'not called'
  b.on('message', (frame) => {
    b.sendWithCallback(encodeTestFrame(`last word on ${testFrameBody(frame).toString()}`), [], (err) => { callback = err })
    b.close()
  })
  const ended = once(a, 'end')
  await a.send(encodeTestFrame('frame 1'))
  const { frame } = await answers.next()
  t.equal(testFrameBody(frame).toString(), 'last word on frame 1', 'written before the close')
  t.equal(callback, null, 'its callback says it was written')
  await ended
  await closeAll(a, b)
})
