// Fault suite: a seeded fuzz of the real receiver. A hostile sender
// (test/fixtures/fuzz-sender.js) writes 10,000 frames carrying descriptors of
// every kind (files, a directory, /dev/null, a FIFO, Unix stream and
// listening sockets, UDP, listening and connected TCP, epoll, eventfd):
// broken HANDOFFs the receiver must REJECT with the right reason, fatal frames
// after which it must drop the channel, and genuine handoffs of real TCP
// connections, interleaved, on channels of protocol version 1 or 2 (the
// binary metadata of §14 broken too). Every genuine handoff must be served, every frame
// answered as the protocol says, and both processes must end with the
// descriptors they started with. The seed is printed; FUZZ_SEED reproduces a
// run, FUZZ_FRAMES makes it longer (or scripts/fuzz.js, for long runs).
import path from 'node:path'
import t from 'tap'
import { checkFdLeaks, expectFds, forkFixture, sockIn, socketDir, startReceiver, stopChild } from './helpers.js'

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10000)
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))

t.test(`seeded fuzz: ${FRAMES} frames with descriptors of every kind (seed ${SEED})`, async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  t.comment(`seed ${SEED}: FUZZ_SEED=${SEED} npx tap test/faults/fuzz.test.ts reproduces this run`)
  const dir = socketDir(t)
  const sockPath = sockIn(dir)
  const receiver = await startReceiver(t, sockPath)
  const receiverFds = receiver.fds()

  const fuzzer = forkFixture('fuzz-sender.js', { path: sockPath, frames: FRAMES, seed: SEED, dir: path.join(dir), receiverPid: receiver.pid }, 'fuzzer', t)
  const done = await fuzzer.waitFor((m) => m.event === 'done', 'the fuzz run', 110000)
  t.comment(`${done.frames} frames, ${done.descriptors} descriptors (pool: ${done.pool.join(', ')}), ${done.genuine} genuine handoffs, ` +
    `${done.reconnects} channels dropped and reopened (of protocol version 1: ${done.channels[1]}, 2: ${done.channels[2]}), ${done.ms} ms`)
  t.comment(`categories ${JSON.stringify(done.categories)}`)
  t.comment(`answers ${JSON.stringify(done.verdicts)}`)
  t.equal(done.frames, FRAMES, 'every frame was written')
  t.same(done.mismatches, [], 'every frame got the answer the protocol prescribes')
  t.ok(done.genuine > 0, 'genuine handoffs were interleaved')
  // ~300 channels in a default run, each of version 1 or 2 at random.
  if (FRAMES >= 1000) t.ok(done.channels[1] > 0 && done.channels[2] > 0, 'channels of both protocol versions were fuzzed')
  t.equal(done.served, done.genuine, 'every genuine handoff was served (its client got the receiver\'s answer)')
  t.equal(done.fdsAfter, done.fdsBefore, `the fuzzer holds what it started with (${done.fdsBefore})`)

  await receiver.request('idle')
  await expectFds(t, receiver.pid, receiverFds, 'receiver (every descriptor it was sent, closed)')
  await expectFds(t, fuzzer.pid, done.fdsBefore, 'fuzzer')
  const stats = (await receiver.request('stats')).stats
  t.equal(stats.total, done.genuine, 'the receiver accepted exactly the genuine handoffs')
  await stopChild(t, fuzzer, 'exit')
  await stopChild(t, receiver, 'close')
})
