// MSG_CTRUNC: a receiver at its descriptor limit. The kernel installs what fits,
// sets MSG_CTRUNC and drops the rest; the channel must close those that did
// arrive, report ERR_HANDOFF_FDS_TRUNCATED for the frame and go on.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { Channel } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { FixtureProcess, createTestFramer, encodeTestFrame, countFds, once } from '../fixtures/channel-common.js'

const LIMIT = 64

function limitPrefix (limit: number): string[] {
  const prlimit = spawnSync('prlimit', ['--version'], { stdio: 'ignore' })
  if (prlimit.status === 0) return ['prlimit', `--nofile=${limit}:${limit}`]
  return ['bash', '-c', `ulimit -n ${limit} && exec "$0" "$@"`]
}

t.test('a receiver at its descriptor limit: ERR_HANDOFF_FDS_TRUNCATED, nothing left behind, the channel goes on', async (t) => {
  checkFdLeaks(t)
  const fdsBefore = countFds()
  const framer = createTestFramer()
  const [mine, theirs] = binding.socketpair()
  const prefix = limitPrefix(LIMIT)
  t.comment(`receiver started under: ${prefix.join(' ')}`)
  const child = new FixtureProcess('channel-ctrunc-receiver.js', { prefix, args: [String(LIMIT)], extraStdio: [theirs] })
  t.teardown(() => { if (!child.exited) child.child.kill('SIGKILL') })
  binding.closeFd(theirs)
  const start = await child.next('start')
  t.equal(start.limit, LIMIT)
  const free: number = start.free
  t.ok(free > 8 && free < 200, `the receiver has ${free} descriptor numbers free below its limit of ${LIMIT}`)

  const channel = new Channel(mine, framer)
  channel.on('error', (err) => t.fail(`sender channel error: ${err.message}`))

  /** `count` descriptors to send, and a promise that every copy of them is closed. */
  const watched = (count: number): { fds: number[], gone: Promise<unknown> } => {
    const fds: number[] = []
    const gone: Array<Promise<unknown>> = []
    for (let i = 0; i < count; i++) {
      const [watchFd, sent] = binding.socketpair()
      gone.push(once(new Channel(watchFd, framer), 'close'))
      fds.push(sent)
    }
    return { fds, gone: Promise.all(gone) }
  }
  const sendFrame = async (label: string, count: number): Promise<Promise<unknown>> => {
    const { fds, gone } = watched(count)
    await channel.send(encodeTestFrame(label, count), fds)
    for (const fd of fds) binding.closeFd(fd)
    return gone
  }

  // Fits: delivered.
  let gone = await sendFrame('small-1', 3)
  let msg = await child.next('message')
  t.match(msg, { body: 'small-1', fds: 3, info: { kind: 'socket' } }, 'a frame of 3 descriptors arrives whole')
  await gone

  // Does not fit, three times over: truncated, every copy closed, free slots back.
  const many = Math.min(253, free + 20)
  for (let round = 1; round <= 3; round++) {
    gone = await sendFrame(`many-${round}`, many)
    const err = await child.next('frameError')
    t.match(err, { code: 'ERR_HANDOFF_FDS_TRUNCATED', body: `many-${round}` },
      `round ${round}: a frame of ${many} descriptors is reported truncated`)
    t.equal(err.free, free, `round ${round}: the receiver kept none of them`)
    await gone
    t.pass(`round ${round}: every copy of the ${many} descriptors is closed (kernel and receiver)`)
  }

  // And the channel goes on.
  gone = await sendFrame('small-2', 3)
  msg = await child.next('message')
  t.match(msg, { body: 'small-2', fds: 3 }, 'afterwards a frame of 3 descriptors arrives whole')
  t.equal(msg.free, free, 'the receiver is back to its free descriptor numbers')
  await gone

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
