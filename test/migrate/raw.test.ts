// rawMover(): a raw connection (the app's own line protocol) handed on at a
// boundary the app chooses, with its parser's unread bytes and its state;
// the client's lines are answered once each, in order, across the move.
import path from 'node:path'
import t from 'tap'
import { forkFixture, stopChild } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { lineClient, pumpLines, until } from './helpers.js'

t.test('raw connections handed on with their unread bytes and state', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const old = forkFixture('migrate-raw-sibling.js', { path: path.join(dir, 'old.sock') }, 'old sibling', t)
  const next = forkFixture('migrate-raw-sibling.js', { path: path.join(dir, 'next.sock') }, 'new sibling', t)
  const [{ port }] = await Promise.all([old.event('ready'), next.event('ready')])
  const oldBaseline = openFds(old.pid).length
  const clients = await Promise.all(Array.from({ length: 40 }, async () => await lineClient(port)))
  // Each line goes out in two writes (the move finds partial lines in the parsers).
  const stop = pumpLines(clients)
  await until(() => clients.every((c) => c.got >= 3), () => 'first answers')
  const moved = await old.request('move', { address: path.join(dir, 'next.sock') })
  t.same({ moved: moved.moved, kept: moved.kept }, { moved: 40, kept: 0 }, 'all 40 handed on')
  await until(() => clients.every((c) => c.pids.has(next.pid) || c.closed), () => 'answers from the new sibling')
  await stop()
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
