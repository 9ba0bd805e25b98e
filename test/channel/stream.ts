// 10,000 descriptors streamed to a slow receiver in another process, through
// socket buffers small enough that the sender meets EAGAIN and partial writes,
// while the receiver pauses and resumes reading by its own progress.
import t from 'tap'
import { Channel } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { FixtureProcess, createTestFramer, countFds, once } from '../fixtures/channel-common.js'
import { sendStream } from '../fixtures/channel-stream.js'

const COUNT = 10_000
const PAUSE_EVERY = 500

t.test('10,000 descriptors reach a slow receiver process exactly once, in order', async (t) => {
  checkFdLeaks(t)
  const fdsBefore = countFds()
  const [mine, theirs] = binding.socketpair()
  binding.setBufferSizes(mine, 4096, 4096)
  const child = new FixtureProcess('channel-stream-receiver.js', {
    args: ['3', String(COUNT), String(PAUSE_EVERY)],
    extraStdio: [theirs]
  })
  t.teardown(() => { if (!child.exited) child.child.kill('SIGKILL') })
  binding.closeFd(theirs) // the child has its own copy, as its fd 3
  const start = await child.next('start')

  const channel = new Channel(mine, createTestFramer())
  channel.on('error', (err) => t.fail(`sender channel error: ${err.message}`))
  channel.on('message', () => t.fail('the receiver sends nothing'))
  const began = performance.now()
  const sent = await sendStream(channel, { count: COUNT, maxInFlight: 200 })
  const done = await child.next('done')
  const elapsed = performance.now() - began

  t.equal(done.errorCount, 0, 'every frame and descriptor arrived intact, exactly once, in order', { errors: done.errors })
  t.equal(done.received, COUNT, `${COUNT} descriptors received`)
  t.equal(done.noise, sent.noise, 'every frame without a descriptor arrived too')
  t.equal(done.pauses, COUNT / PAUSE_EVERY - 1, 'the receiver paused and resumed by its own progress')
  t.equal(done.whilePaused, 0, 'no frame was delivered while the receiver was paused')
  t.ok(sent.maxPending > 1, `the sender queued behind the kernel (up to ${sent.maxPending} frames pending)`)
  t.ok(sent.asyncCompletions > 0, `${sent.asyncCompletions} sends completed later, from the writable poll`)
  t.comment(`${COUNT} descriptors (+${sent.noise} frames without) to another process: ${elapsed.toFixed(0)} ms, ` +
    `${Math.round(COUNT / elapsed * 1000)} descriptors/s; receiver's own measure ${Number(done.elapsedMs).toFixed(0)} ms`)

  const closed = once(channel, 'close')
  channel.close()
  await closed
  const end = await child.next('closed')
  t.equal(end.fds, start.fds - 1, 'the receiver is back to its starting descriptors (less the channel)')
  const { code } = await child.exit
  t.equal(code, 0, 'the receiver exited cleanly')
  t.equal(child.stderr, '', 'the receiver wrote nothing to stderr')
  t.equal(countFds(), fdsBefore, 'this process is back to its starting descriptors')
})
