// The reasons a WebSocket stays with the old sibling, each from a real
// connection in that state: paused by the app, closing, a state function that
// throws, a state too large for a HANDOFF, a frame cut in half by the client;
// and a new sibling that refuses every WebSocket (no resume hook). Each is
// reported by its reason and served on by the old sibling; the others move.
// A new sibling whose resume hook throws has taken the connection (moved):
// it ends it and emits 'error'; the old side's "close" logic never runs.
import t from 'tap'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { clientFrame } from '../helpers/clients.js'
import { startDeploy } from '../helpers/sibling-deploy.js'
import { SplitEcho, WsEcho, endDeploy, openAll, summary, traffic, until } from './helpers.js'

t.test('paused, closing, state that throws, state too large, mid-frame: each kept by its reason, the rest move', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {})
  const url = `ws://127.0.0.1:${d.port}/ws`
  const movers = Array.from({ length: 10 }, () => new WsEcho(url, false))
  const paused = new WsEcho(url, false)
  const throwing = new WsEcho(url, false)
  const huge = new WsEcho(url, false)
  const closing = new SplitEcho(d.port, 0)
  const midFrame = new SplitEcho(d.port, 0)
  await openAll([...movers, paused, throwing, huge, closing, midFrame])
  const command = async (what: string): Promise<void> => { await d.old.event('command', (m) => m.what === what) }
  paused.send('pause')
  await command('pause')
  throwing.send('state-throw')
  await command('state-throw')
  huge.send('state-huge')
  await command('state-huge')
  // This client reads nothing more: the server's close frame stays unanswered.
  closing.socket.pause()
  closing.send('close')
  await command('close')
  // A command and the first half of a frame in one write (one segment on
  // loopback): once the command is done, ws holds the half frame.
  const half = clientFrame(1, '1 cut in two')
  midFrame.socket.write(Buffer.concat([clientFrame(1, 'noop'), half.subarray(0, 4)]))
  await command('noop')

  const stop = traffic([...movers, throwing, huge], 50)
  await until(() => [...movers, throwing, huge].every((c) => c.received >= 2), () => JSON.stringify(summary(movers)))
  const { report } = await d.old.request('move', { address: d.nextPath, options: { cutTimeout: 300, retries: 0 } })
  t.same(report.kept, { paused: 1, closing: 1, refused: 1, 'too-large': 1, 'mid-frame': 1 },
    'each kept by its reason (state that throws: refused)')
  t.equal(report.moved, 10, 'the others moved')
  t.equal(report.closed, 0, 'none closed')

  // The kept ones are still served by the old sibling: the cut frame's rest
  // completes it there, and the others' numbers go on being echoed.
  midFrame.socket.write(half.subarray(4))
  await until(() => midFrame.received === 1, () => `the cut frame's echo (${midFrame.errors.join('; ')})`)
  t.equal(midFrame.lastPid, d.old.pid, 'the cut frame was completed and echoed by the old sibling')
  await until(() => movers.every((c) => c.lastPid === d.next.pid), () => 'echoes from the new sibling')
  const sentAt = [throwing.sent, huge.sent]
  await until(() => throwing.received > sentAt[0] && huge.received > sentAt[1], () => 'echoes of the kept ones after the move')
  stop()
  const all = [...movers, throwing, huge]
  await until(() => all.every((c) => c.received === c.sent), () => JSON.stringify(summary(all)))
  t.same(summary(all).errors, [], 'nothing lost, duplicated or reordered, moved or kept')
  t.ok(throwing.lastPid === d.old.pid && huge.lastPid === d.old.pid, 'the kept ones answered by the old sibling')
  t.equal((await d.old.request('stats')).tracked, 5, 'the old sibling holds the five')

  // The hard stop: 1012 to each; the paused one cannot read the answer and
  // the closing one never answers: both are terminated after the limit.
  const { closed } = await d.old.request('closeKept', { timeout: 500 })
  t.equal(closed, 5, 'the hard stop reports the five')
  closing.socket.resume()
  const kept = [paused, throwing, huge, closing, midFrame]
  await until(() => kept.every((c) => c.closed !== null), () => `closes: ${kept.map((c) => String(c.closed?.code)).join(', ')}`)
  t.same(kept.map((c) => c.closed?.code), [1012, 1012, 1012, 4000, 1012],
    'closed with 1012 (the one already closing: with its own code)')
  t.equal(summary(movers).closed, 0, 'no moved client saw a close')
  await endDeploy(t, d, [...movers, ...kept])
})

t.test('a new sibling that refuses every WebSocket (no resume hook): each kept as refused, served on, no close', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {}, { resume: false })
  const clients = Array.from({ length: 10 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(clients)
  const stop = traffic(clients, 50)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))
  const { report } = await d.old.request('move', { address: d.nextPath })
  t.same(report.kept, { refused: 10 }, 'every one refused by the new sibling, and kept')
  t.equal(report.moved, 0)
  t.equal(report.closed, 0)
  const sentAt = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.received > sentAt[i]), () => `echoes after the move: ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.received === c.sent), () => JSON.stringify(summary(clients)))
  t.same(summary(clients).errors, [], 'nothing lost, duplicated or reordered')
  t.equal(summary(clients).closed, 0, 'no client saw a close')
  t.ok(clients.every((c) => c.pids.size === 1 && c.lastPid === d.old.pid), 'every echo came from the old sibling')
  const stats = await d.old.request('stats')
  t.same({ tracked: stats.tracked, closes: stats.closes, migrated: stats.migrated }, { tracked: 10, closes: 0, migrated: 0 },
    'the old sibling still tracks all ten; neither "close" nor "migrated" ran')
  t.equal((await d.next.request('stats')).resumed, 0, 'the new sibling resumed none')
  t.equal(await fdsBackTo(d.next.pid, d.baseline.next), d.baseline.next, 'new sibling: no descriptor of a refused connection')
  await endDeploy(t, d, clients)
})

t.test('a new sibling whose resume hook throws: the WebSocket moved, and the new side ends it and says why', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {}, { resumeThrows: true })
  const clients = Array.from({ length: 5 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(clients)
  for (const c of clients) c.next()
  await until(() => clients.every((c) => c.received === 1), () => JSON.stringify(summary(clients)))
  const { report } = await d.old.request('move', { address: d.nextPath })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 5, kept: {}, closed: 0 },
    'each was ACCEPTed before its hook ran: moved')
  for (let i = 0; i < clients.length; i++) {
    t.match((await d.next.event('resumeError')).message, 'this app cannot resume it', `the new side's 'error' ${i + 1}`)
  }
  await until(() => clients.every((c) => c.closed !== null), () => `closes: ${JSON.stringify(summary(clients))}`)
  t.same(clients.map((c) => c.closed?.code), [1006, 1006, 1006, 1006, 1006], 'terminated by the new side (no close frame)')
  const stats = await d.old.request('stats')
  t.same({ closes: stats.closes, migrated: stats.migrated, tracked: stats.tracked }, { closes: 0, migrated: 5, tracked: 0 },
    'the old side: "migrated", not "close"')
  await endDeploy(t, d, clients)
})
