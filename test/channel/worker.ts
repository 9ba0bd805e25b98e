// The addon inside worker_threads: the descriptor stream with its receiver in a
// worker (its channel polled on the worker's own loop), and workers that go
// away with channels still open, by process.exit(), by terminate() and by
// running out of work, without crashing the process or leaking a descriptor.
import t from 'tap'
import { Channel } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import path from 'node:path'
import {
  FixtureWorker, createTestFramer, encodeTestFrame, countFds, listFds, once
} from '../fixtures/channel-common.js'
import { sendStream } from '../fixtures/channel-stream.js'
import { tmpDir } from '../helpers/tmp.js'

const COUNT = 10_000
const PAUSE_EVERY = 500

t.test('10,000 descriptors to a slow receiver in a worker thread', async (t) => {
  checkFdLeaks(t)
  const fdsBefore = countFds()
  const [mine, theirs] = binding.socketpair()
  binding.setBufferSizes(mine, 4096, 4096)
  const worker = new FixtureWorker('channel-stream-receiver.js', { fd: theirs, count: COUNT, pauseEvery: PAUSE_EVERY })
  t.teardown(() => worker.worker.terminate())
  await worker.next('start')

  const channel = new Channel(mine, createTestFramer())
  channel.on('error', (err) => t.fail(`sender channel error: ${err.message}`))
  const began = performance.now()
  const sent = await sendStream(channel, { count: COUNT, maxInFlight: 200 })
  const done = await worker.next('done')
  const elapsed = performance.now() - began

  t.equal(done.errorCount, 0, 'every frame and descriptor arrived intact, exactly once, in order', { errors: done.errors })
  t.equal(done.received, COUNT, `${COUNT} descriptors received in the worker`)
  t.equal(done.noise, sent.noise, 'every frame without a descriptor arrived too')
  t.equal(done.pauses, COUNT / PAUSE_EVERY - 1, 'the worker paused and resumed by its own progress')
  t.equal(done.whilePaused, 0, 'no frame was delivered while the worker was paused')
  t.ok(sent.maxPending > 1, `the sender queued behind the kernel (up to ${sent.maxPending} frames pending)`)
  t.comment(`${COUNT} descriptors (+${sent.noise} frames without) to a worker thread: ${elapsed.toFixed(0)} ms, ` +
    `${Math.round(COUNT / elapsed * 1000)} descriptors/s; worker's own measure ${Number(done.elapsedMs).toFixed(0)} ms`)

  const closed = once(channel, 'close')
  channel.close()
  await closed
  await worker.next('closed') // the worker saw 'end' and closed its side
  const { code } = await worker.exit
  t.equal(code, 0, 'the worker ended by itself once its channel was closed')
  t.same(worker.errors, [], 'no error in the worker')
  t.equal(countFds(), fdsBefore, 'the process is back to its starting descriptors', { fds: listFds() })
})

for (const how of ['exit', 'terminate', 'natural'] as const) {
  t.test(`a worker that goes away (${how}) with channels still open`, async (t) => {
    checkFdLeaks(t)
    const dir = tmpDir(t, 'handoff-worker-')
    const framer = createTestFramer()
    const fdsBefore = countFds()

    const [mine, theirs] = binding.socketpair()
    // The worker's channel will hold a copy of `carried`, waiting for the rest
    // of its frame; `watch` sees EOF only once every copy of `carried` is closed.
    const [watchFd, carried] = binding.socketpair()
    const watch = new Channel(watchFd, framer)
    const watchClosed = once(watch, 'close') // a Channel closes itself after 'end'
    // Not reading yet: the worker's writes fill the kernel buffer, then its queue.
    const channel = new Channel(mine, framer).pause()
    channel.on('error', (err) => t.fail(`main channel error: ${err.message}`))
    const frame = encodeTestFrame(Buffer.alloc(100, 0x62), 1)
    await channel.send(frame.subarray(0, 20), [carried])
    binding.closeFd(carried)

    const worker = new FixtureWorker('channel-worker-exit.js', { fd: theirs, path: path.join(dir, 'w.sock'), how })
    const ready = await worker.next('ready')
    t.ok(ready.pending > 0, `the worker has ${ready.pending} frames queued in the addon`)
    t.equal(ready.held, 1, 'the worker\'s channel holds a descriptor for a frame not yet complete')
    if (how === 'terminate') await worker.worker.terminate()
    const { code } = await worker.exit
    t.equal(code, how === 'terminate' ? 1 : 0, `the worker's exit code (${how})`)
    t.same(worker.errors, [], 'no error in the worker')

    await watchClosed
    t.pass('every copy of the descriptor the worker held is closed (EOF on its peer)')
    // Left in this process: our channel to the worker. Nothing of the worker's.
    t.equal(countFds(), fdsBefore + 1, 'every descriptor the worker had is closed', { fds: listFds() })

    // The worker's end is gone in the middle of a frame (16 KiB frames, 8 KiB
    // of kernel buffer): what it wrote ends in ERR_HANDOFF_CHANNEL_ENDED, then 'end'.
    const frameErrors: string[] = []
    channel.on('frameError', (err: any) => frameErrors.push(err.code))
    channel.on('message', () => t.fail('no whole frame could have been written'))
    const ended = once(channel, 'end')
    channel.resume()
    await ended
    t.same(frameErrors, ['ERR_HANDOFF_CHANNEL_ENDED'], 'the partial frame ends in ERR_HANDOFF_CHANNEL_ENDED')
    await once(channel, 'close')
    t.equal(countFds(), fdsBefore, 'the process is back to its starting descriptors')
  })
}
