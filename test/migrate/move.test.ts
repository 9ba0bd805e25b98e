// Live migration through a sibling deploy (issue 14): every WebSocket moves
// from the old sibling to the new one while its client keeps sending
// numbered messages; every number is echoed exactly once, in order, the
// later ones by the new process; no client sees a close; the old process's
// "close" logic never runs for a moved connection; no process leaks a
// descriptor.
import t, { type Test } from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { CLIENTS, fdsBackTo, startDeploy, type SiblingConfig } from '../helpers/sibling-deploy.js'
import { SplitEcho, WsEcho, openAll, summary, traffic, until, type EchoClient } from './helpers.js'

async function deployUnderTraffic (t: Test, config: SiblingConfig, make: (port: number, i: number) => EchoClient,
  count: number, interval: number, checkOpened: (clients: EchoClient[]) => void = () => {}): Promise<void> {
  checkFdLeaks(t)
  const d = await startDeploy(t, config)
  const clients = Array.from({ length: count }, (_, i) => make(d.port, i))
  await openAll(clients)
  checkOpened(clients)
  const stop = traffic(clients, interval)
  await until(() => clients.every((c) => c.received >= 2), () => `2 echoes each before the move: ${JSON.stringify(summary(clients))}`)
  const sentAtMove = clients.map((c) => c.sent)
  const { report } = await d.old.request('move', { address: d.nextPath })
  t.same(report.kept, {}, 'nothing was kept')
  t.equal(report.closed, 0, 'nothing closed during the move')
  t.equal(report.moved, count, `all ${count} WebSockets moved (in ${report.ms} ms, ${report.sweeps} sweep(s))`)
  // Every client goes on, answered by the new process.
  // (A close ends the wait: the assertions below then say what went wrong.)
  await until(() => clients.every((c, i) => c.closed !== null || (c.lastPid === d.next.pid && c.received > sentAtMove[i])),
    () => `echoes from the new sibling: ${clients.filter((c) => c.lastPid !== d.next.pid).length} not yet; ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.received === c.sent || c.closed !== null),
    () => `the last echoes: ${JSON.stringify(summary(clients))}`)
  const s = summary(clients)
  t.same(s.errors, [], 'every number echoed exactly once, in order')
  t.equal(s.closed, 0, 'no client saw a close')
  t.equal(s.lagging, 0, 'every message sent was echoed')
  t.ok(clients.every((c) => c.pids.has(d.old.pid) && c.pids.has(d.next.pid)), 'each client was served by both processes')
  const oldStats = await d.old.request('stats')
  t.equal(oldStats.closes, 0, 'the old sibling\'s "close" logic ran for no moved WebSocket')
  t.equal(oldStats.migrated, count, '\'migrated\' was emitted for each instead')
  t.equal(oldStats.tracked, 0, 'the old sibling holds none')
  const nextStats = await d.next.request('stats')
  t.equal(nextStats.resumed, count, 'the new sibling resumed each through its resume hook')
  t.equal(nextStats.opened, 0, 'and never through \'connection\'')
  t.equal(await fdsBackTo(d.old.pid, d.baseline.old), d.baseline.old, 'the old sibling holds no descriptor of a moved connection')
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(d.next.pid, d.baseline.next), d.baseline.next, 'the new sibling is back to its descriptors once the clients left')
  t.equal(await fdsBackTo(d.web.pid, d.baseline.web), d.baseline.web, 'the web app holds no descriptor of a handed-off connection')
}

t.test(`${CLIENTS} WebSockets move through a sibling deploy under traffic`, async (t) => {
  await deployUnderTraffic(t, {}, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, false), CLIENTS, 250)
})

t.test(`${CLIENTS} compressed WebSockets move (server imposes client_no_context_takeover)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /client_no_context_takeover/.test((c as WsEcho).extensions)),
      'the server imposed client_no_context_takeover on every client'))
})

t.test(`${CLIENTS} compressed WebSockets with full context takeover move (the client's window carried)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true, compression: 'carry-window' }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /permessage-deflate/.test((c as WsEcho).extensions) &&
      !/client_no_context_takeover/.test((c as WsEcho).extensions)), 'every client kept its compression context'))
})

t.test('clients writing each frame in two packets move at a frame boundary', async (t) => {
  await deployUnderTraffic(t, {}, (port) => new SplitEcho(port, 3), 100, 20)
})
