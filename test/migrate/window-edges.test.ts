// The compression window carried with compression: 'carry-window', at its
// edges: a client that limits its window to 10 bits (1 KiB: the window
// carried is that size, not 32 KiB), one whose every message is larger than
// that window, one that sent many windows' worth (the window kept is the
// last 1 KiB of all of them) and an empty message, and one that sent
// nothing before the move (an empty window: its first message is decoded
// by the new sibling from no dictionary). A window one byte off would make
// the new inflater decode garbage or fail: every number echoed once, in
// order, by the new sibling after the move, and no close, says it was exact.
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { startDeploy } from '../helpers/sibling-deploy.js'
import { WsEcho, endDeploy, openAll, summary, traffic, until } from './helpers.js'

t.test('windows of 1 KiB, messages larger than the window, many windows\' worth, an empty one: each moves and decodes on', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, { deflate: true, compression: 'carry-window' })
  const url = `ws://127.0.0.1:${d.port}/ws`
  const large = Array.from({ length: 3 }, () => new WsEcho(url, true, 10))
  for (const c of large) c.padding = ` ${'a few words, then some more words and other words '.repeat(30)}`
  const many = Array.from({ length: 3 }, () => new WsEcho(url, true, 10))
  const silent = Array.from({ length: 3 }, () => new WsEcho(url, true))
  const talking = [...large, ...many]
  const all = [...talking, ...silent]
  await openAll(all)
  t.ok(talking.every((c) => /client_max_window_bits=10/.test(c.extensions) && !/client_no_context_takeover/.test(c.extensions)),
    'the 1 KiB clients kept their context, in a window of 10 bits')
  t.ok(silent.every((c) => /permessage-deflate/.test(c.extensions) && !/client_max_window_bits=\d/.test(c.extensions)),
    'the silent ones compress with the full 32 KiB window')
  // An empty compressed message: nothing inflated, nothing to keep.
  for (const c of many) c.ws.send('')
  for (let i = 0; i < many.length; i++) await d.old.event('command', (m) => m.what === '')
  const stop = traffic(talking, 20)
  // Each of `many` sends ~140 B a message: 20 of them are well over two windows (compacted more than once).
  await until(() => many.every((c) => c.received >= 20) && large.every((c) => c.received >= 3), () => JSON.stringify(summary(talking)))
  // Trusting the new sibling's uid explicitly (the default trusts this uid alone).
  const { report } = await d.old.request('move', { address: d.nextPath, options: { allow: { uids: [process.getuid?.() ?? 0] } } })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: all.length, kept: {}, closed: 0 }, 'all moved')
  const sentAtMove = talking.map((c) => c.sent)
  await until(() => talking.every((c, i) => c.closed !== null || (c.lastPid === d.next.pid && c.received > sentAtMove[i] + 5)),
    () => `echoes from the new sibling: ${JSON.stringify(summary(talking))}`)
  for (const c of silent) c.next()
  await until(() => silent.every((c) => c.closed !== null || c.received === 1), () => `the silent ones' first echo: ${JSON.stringify(summary(silent))}`)
  stop()
  await until(() => all.every((c) => c.received === c.sent || c.closed !== null), () => JSON.stringify(summary(all)))
  t.same(summary(all).errors, [], 'every number echoed exactly once, in order')
  t.equal(summary(all).closed, 0, 'no client saw a close (a wrong window fails the inflate: 1007 or 1006)')
  t.ok(all.every((c) => c.lastPid === d.next.pid), 'the last echoes came from the new sibling')
  t.ok(silent.every((c) => c.pids.size === 1), 'the silent ones were answered by the new sibling only')
  const stats = await d.next.request('stats')
  t.same({ resumed: stats.resumed, closes: stats.closes }, { resumed: all.length, closes: 0 }, 'the new sibling resumed each, closed none')
  await endDeploy(t, d, all)
})
