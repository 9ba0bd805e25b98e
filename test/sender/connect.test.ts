// A pool whose receivers come and go, against the library's own receivers:
// a handoff waits (connectWait) for a receiver still connecting, and picks
// in round-robin order once it is there; it keeps waiting when one of
// several connecting receivers goes down; a handoff whose channel ends
// before its verdict is offered to the next receiver; a receiver that stays
// away is retried with growing delays.
//
// "Connecting" is made to last with SIGSTOP: the kernel completes the
// connection to a frozen receiver's listening socket, and its HELLO never
// comes until SIGCONT (the sender's helloTimeout is long).
import t from 'tap'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Link } from '../../plugin/sender/link.js'
import { Sender } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { linksReady, offerRaw, startSibling, tmpDir, upgradeApp, closeAll } from './helpers.js'

const until = (link: Link, state: 'ready' | 'down' | 'connecting'): Promise<void> => new Promise((resolve) => {
  if (link.state === state) {
    resolve()
    return
  }
  const check = (): void => {
    if (link.state !== state) return
    link.removeListener('ready', check)
    link.removeListener('down', check)
    resolve()
  }
  link.on('ready', check)
  link.on('down', check)
})

t.test('after waiting for a connecting receiver, the pool picks in round-robin order (the wait moves the cursor once)', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = ['a', 'b', 'c'].map((name) => path.join(dir, `${name}.sock`))
  const a = await startSibling(t, { path: paths[0] }, 'raw')
  a.proc.kill('SIGSTOP')
  // B and C are not there yet; their links wait a minute before trying again,
  // and the test starts them by hand: they never join the handoff's wait.
  const app = await upgradeApp(t, {
    targets: { pool: { path: paths, connectWait: 60000, helloTimeout: 60000, reconnect: { min: 60000, max: 60000 } } }
  }, 'pool')
  const [linkA, linkB, linkC] = app.sender.target('pool').links
  await Promise.all([until(linkB, 'down'), until(linkC, 'down')])
  t.equal(linkA.state, 'connecting', 'A is connecting (frozen before its HELLO)')

  const first = offerRaw(app.port, '/first')
  await app.started(1) // no receiver usable: the handoff waits for A
  const [b, c] = await Promise.all([startSibling(t, { path: paths[1] }, 'raw'), startSibling(t, { path: paths[2] }, 'raw')])
  linkB.start()
  linkC.start()
  await Promise.all([until(linkB, 'ready'), until(linkC, 'ready')])
  t.equal(app.results.length, 0, 'B and C are ready, and the handoff still waits for A')
  a.kill() // A goes down: the wait ends, with B and C usable
  t.equal((await first).info.pid, b.pid, 'the first handoff goes to B, next in order after A')
  t.equal((await offerRaw(app.port, '/second')).info.pid, c.pid, 'the next one to C: none skipped')
  t.equal((await offerRaw(app.port, '/third')).info.pid, b.pid, 'then B again')
  await closeAll(t, app, [b, c])
})

t.test('two receivers connecting: the first one going down does not end the wait for the other', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map(async (p) => await startSibling(t, { path: p }, 'raw')))
  a.proc.kill('SIGSTOP')
  b.proc.kill('SIGSTOP')
  const app = await upgradeApp(t, {
    targets: { pool: { path: paths, connectWait: 60000, helloTimeout: 60000, reconnect: { min: 60000, max: 60000 } } }
  }, 'pool')
  const [linkA, linkB] = app.sender.target('pool').links
  t.same([linkA.state, linkB.state], ['connecting', 'connecting'])
  const offered = offerRaw(app.port, '/waits')
  await app.started(1)
  a.kill()
  await until(linkA, 'down')
  b.proc.kill('SIGCONT')
  const answer = await offered
  t.equal(answer.status, 200, 'not a 503: the handoff waited on for B')
  t.equal(answer.info.pid, b.pid, 'served by B')
  t.match(app.results, [{ handedOff: true, outcome: 'accepted' }])
  await closeAll(t, app, [b])
})

t.test('the channel to a receiver ends with a HANDOFF unanswered: the connection is offered to the next receiver', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map(async (p) => await startSibling(t, { path: p }, 'raw')))
  const app = await upgradeApp(t, { targets: { pool: { path: paths, reconnect: { min: 60000, max: 60000 } } } }, 'pool')
  await linksReady(app.sender, 'pool')
  const [linkA] = app.sender.target('pool').links
  a.proc.kill('SIGSTOP')
  const offered = offerRaw(app.port, '/moved')
  await app.started(1)
  t.equal(linkA.inFlight, 1, 'the HANDOFF went to A (first in turn), which is frozen')
  a.kill() // the channel ends: A never read it, so the connection is still ours
  const answer = await offered
  t.equal(answer.info.pid, b.pid, 'served by B')
  const [result] = await app.settled(1)
  t.match(result, { handedOff: true, outcome: 'accepted', receiver: paths[1] })
  await closeAll(t, app, [b])
})

t.test('reconnecting backs off: the delay doubles from reconnect.min up to reconnect.max', async (t) => {
  checkFdLeaks(t)
  const min = 40
  const max = 160
  const sender = new Sender({ targets: { nowhere: { path: path.join(tmpDir(t), 'nobody.sock'), reconnect: { min, max } } } })
  t.teardown(() => sender.close())
  const link = sender.target('nowhere').links[0]
  const downs: number[] = []
  // The link's reconnect timer does not hold the process (unref): this does, while the test waits.
  const hold = setInterval(() => {}, 60000)
  await new Promise<void>((resolve) => {
    link.on('down', () => {
      downs.push(performance.now())
      if (downs.length === 6) resolve()
    })
  })
  clearInterval(hold)
  await sender.close()
  // After the k-th failure the next attempt waits between half of and all of
  // min(max, min * 2^k): only the lower half is asserted (a loaded machine
  // makes gaps longer, never shorter).
  for (let k = 1; k < downs.length; k++) {
    const base = Math.min(max, min * 2 ** k)
    const gap = downs[k] - downs[k - 1]
    t.ok(gap >= base / 2 - 1, `after failure ${k}: waited ${gap.toFixed(1)} ms, at least ${base / 2}`)
  }
  t.equal(link.health().failures, 6, 'every attempt counted')
})
