// rawMover(): a raw connection (the app's own line protocol) handed on at a
// boundary the app chooses, with its parser's unread bytes and its state;
// the client's lines are answered once each, in order, across the move.
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { forkFixture, stopChild } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { until, wake } from './helpers.js'

t.test('raw connections handed on with their unread bytes and state', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const old = forkFixture('migrate-raw-sibling.js', { path: path.join(dir, 'old.sock') }, 'old sibling', t)
  const next = forkFixture('migrate-raw-sibling.js', { path: path.join(dir, 'next.sock') }, 'new sibling', t)
  const [{ port }] = await Promise.all([old.event('ready'), next.event('ready')])
  const oldBaseline = openFds(old.pid).length
  const clients = await Promise.all(Array.from({ length: 40 }, async () => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    await new Promise((resolve) => socket.once('connect', resolve))
    const c = { socket, sent: 0, got: 0, errors: [] as string[], pids: new Set<number>(), buf: '', closed: false }
    socket.on('data', (d) => {
      const parts = (c.buf + d.toString()).split('\n')
      c.buf = parts.pop() as string
      for (const line of parts) {
        const [n, pid] = line.split('@').map(Number)
        if (n !== c.got + 1) c.errors.push(`expected ${c.got + 1}, got ${line}`)
        c.got = n
        c.pids.add(pid)
      }
      wake()
    })
    socket.on('close', () => { c.closed = true; wake() })
    return c
  }))
  // Each line goes out in two writes (the move finds partial lines in the parsers).
  let stopped = false
  const pump = clients.map(async (c) => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
    while (!stopped && !c.closed) {
      const line = `${++c.sent}\n`
      c.socket.write(line.slice(0, 1))
      await new Promise((resolve) => setTimeout(resolve, 2))
      c.socket.write(line.slice(1))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })
  await until(() => clients.every((c) => c.got >= 3), () => 'first answers')
  const moved = await old.request('move', { address: path.join(dir, 'next.sock') })
  t.same({ moved: moved.moved, kept: moved.kept }, { moved: 40, kept: 0 }, 'all 40 handed on')
  await until(() => clients.every((c) => c.pids.has(next.pid) || c.closed), () => 'answers from the new sibling')
  stopped = true
  await Promise.all(pump)
  await until(() => clients.every((c) => c.got === c.sent || c.closed), () => 'the last answers')
  t.same(clients.flatMap((c) => c.errors), [], 'every line answered once, in order')
  t.ok(clients.every((c) => !c.closed), 'no connection closed')
  const [o, n] = [await old.request('stats'), await next.request('stats')]
  t.same({ conns: o.conns, closes: o.closes }, { conns: 0, closes: 0 }, 'the old sibling holds none, closed none')
  t.same({ adopted: n.adopted, handedOff: n.handedOff }, { adopted: 40, handedOff: 40 }, 'the new one took each through \'handoff\'')
  t.equal(await fdsBackTo(old.pid, oldBaseline), oldBaseline, 'old sibling: no descriptor left')
  for (const c of clients) c.socket.destroy()
  // Ended as the fixture expects: a clean exit is also when Node writes their coverage.
  await stopChild(t, old, 'exit')
  await stopChild(t, next, 'exit')
})
