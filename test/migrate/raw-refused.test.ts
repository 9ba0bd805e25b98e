// rawMover() when the connection cannot go: a new sibling that refuses it
// (at its maxConnections) leaves it to the app, reading again with its
// 'data' listeners back and the bytes Node had read put back in order: the
// client's lines go on being answered once each, in order, by the old
// sibling; and handOn() refuses, with a typed error and without touching
// the connection, what it cannot hand on (an `unread` that is not a Buffer,
// a socket already closed). Over IPv6 loopback: the new side sees the
// client's own address.
import path from 'node:path'
import t from 'tap'
import { forkFixture, stopChild } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { rawMover, type HandOnOptions } from '../../plugin/migrate/index.js'
import { lineClient, newSibling, ownServer, pumpLines, until } from './helpers.js'

t.test('a raw handoff the new sibling refuses: the connection is the old one\'s again, nothing lost or repeated', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const nextPath = path.join(dir, 'next.sock')
  const old = forkFixture('migrate-raw-sibling.js', { path: path.join(dir, 'old.sock'), host: '::1' }, 'old sibling', t)
  const next = forkFixture('migrate-raw-sibling.js', { path: nextPath, max: 3 }, 'new sibling (maxConnections 3)', t)
  const [{ port }] = await Promise.all([old.event('ready'), next.event('ready')])
  const baseline = { old: old.fds(), next: next.fds() }
  const clients = await Promise.all(Array.from({ length: 8 }, async () => await lineClient(port, '::1')))
  const stop = pumpLines(clients)
  await until(() => clients.every((c) => c.got >= 3), () => 'first answers')
  const uid = process.getuid?.() ?? 0
  const moved = await old.request('move', { address: nextPath, options: { timeout: 5000, allow: { uids: [uid] } } })
  t.same({ moved: moved.moved, kept: moved.kept }, { moved: 3, kept: 5 }, 'three handed on, five refused (capacity) and kept')
  const sentAt = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.closed || c.got > sentAt[i] + 2), () => 'answers after the move')
  await stop()
  await until(() => clients.every((c) => c.got === c.sent || c.closed), () => 'the last answers')
  t.same(clients.flatMap((c) => c.errors), [], 'every line answered once, in order, moved or refused')
  t.ok(clients.every((c) => !c.closed), 'no connection closed')
  const stayed = clients.filter((c) => c.lastPid === old.pid)
  t.equal(stayed.length, 5, 'the five refused are answered by the old sibling')
  t.ok(stayed.every((c) => c.pids.size === 1), 'and only by it')
  const [o, n] = [await old.request('stats'), await next.request('stats')]
  t.same({ conns: o.conns, closes: o.closes }, { conns: 5, closes: 0 }, 'the old sibling serves the five, closed none')
  t.same(n.from, ['::1', '::1', '::1'], 'the new one took three, each with the client\'s IPv6 address')
  for (const c of clients) c.socket.destroy()
  await until(() => clients.every((c) => c.closed), () => 'clients closing')
  t.equal(await fdsBackTo(old.pid, baseline.old), baseline.old, 'old sibling: no descriptor left')
  t.equal(await fdsBackTo(next.pid, baseline.next), baseline.next, 'new sibling: no descriptor left')
  await stopChild(t, old, 'exit')
  await stopChild(t, next, 'exit')
})

t.test('handOn() refuses what it cannot hand on, typed, and the connection stays as it was', async (t) => {
  checkFdLeaks(t)
  const { next, address: nextPath } = await newSibling(t, 'migrate-raw-sibling.js')
  // This test process is the old sibling: its own server, its own connection.
  const { port, accepted } = await ownServer(t)
  const ours$ = accepted()
  const client = await lineClient(port)
  const ours = await ours$
  const gone = accepted()
  const other = await lineClient(port)
  const closed = await gone
  closed.destroy()
  await until(() => other.closed, () => 'the other client\'s close')

  const mover = rawMover(nextPath)
  t.teardown(() => mover.close())
  await mover.ready()
  await t.rejects(mover.handOn(ours, { unread: 'half a line' as unknown as Buffer } as HandOnOptions),
    { code: 'ERR_HANDOFF_MIGRATE_OPTION', message: /"unread"/ }, 'an unread that is not a Buffer: refused')
  await t.rejects(mover.handOn(closed), { code: 'ERR_HANDOFF_SOCKET_GONE' }, 'a socket already closed: refused')
  // Still ours, untouched: this process answers it.
  ours.on('data', (d) => { for (const line of d.toString().split('\n').slice(0, -1)) ours.write(`${line}@${process.pid}\n`) })
  client.socket.write(`${++client.sent}\n`)
  await until(() => client.got === 1, () => 'an answer from this process')
  t.equal(client.lastPid, process.pid, 'the connection was left as it was: this process answers it')
  // No options at all: nothing unread, no state; the new sibling serves it from its next line.
  ours.removeAllListeners('data')
  const result = await mover.handOn(ours)
  t.match(result, { handedOff: true, outcome: 'accepted' }, 'handed on without options')
  client.socket.write(`${++client.sent}\n`)
  await until(() => client.got === 2, () => 'an answer from the new sibling')
  t.equal(client.lastPid, next.pid, 'the new sibling answers it')
  t.same(client.errors, [], 'in order')
  client.socket.destroy()
  await until(() => client.closed, () => 'the client\'s close')
  await mover.close()
  await stopChild(t, next, 'exit')
})
