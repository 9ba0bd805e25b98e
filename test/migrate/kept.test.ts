// What cannot move stays with the old sibling, is reported by reason, and is
// served there until the hard stop closes it with 1012; and a new sibling
// that dies in the middle of a move takes only what it had ACCEPTed.
import t from 'tap'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { stopChild } from '../helpers/child.js'
import { startDeploy } from '../helpers/sibling-deploy.js'
import { SplitEcho, WsEcho, endDeploy, openAll, summary, traffic, until } from './helpers.js'

const FLOOD = 48 * 1024 * 1024

t.test('two clients that stop reading are kept (write backlog), served, then closed with 1012 at the hard stop', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {})
  const movers = Array.from({ length: 20 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  const stuck = [new SplitEcho(d.port, 0), new SplitEcho(d.port, 0)]
  await openAll([...movers, ...stuck])
  for (const c of stuck) {
    // Each asks for more than the kernel's buffers hold, and stops reading.
    c.socket.pause()
    c.send(`flood ${FLOOD}`)
  }
  const stop = traffic(movers, 50)
  await until(() => movers.every((c) => c.received >= 2), () => JSON.stringify(summary(movers)))
  const { report } = await d.old.request('move', { address: d.nextPath, options: { drainTimeout: 300 } })
  t.same(report.kept, { 'write-backlog': 2 }, 'the two are kept, for their write backlog')
  t.equal(report.moved, 20, 'the others moved')
  t.equal(report.closed, 0, 'none closed')
  await until(() => movers.every((c) => c.lastPid === d.next.pid), () => 'echoes from the new sibling')
  stop()
  await until(() => movers.every((c) => c.received === c.sent), () => JSON.stringify(summary(movers)))
  t.same(summary(movers).errors, [], 'the moved ones lost, duplicated and reordered nothing')
  t.equal((await d.old.request('stats')).tracked, 2, 'the old sibling still serves the two')
  // The hard stop: 1012 queued behind what they have not read yet.
  const hardStop = d.old.request('closeKept', { timeout: 20000 })
  for (const c of stuck) c.socket.resume()
  await until(() => stuck.every((c) => c.closed !== null), () => `closes: ${stuck.map((c) => `${c.binaryBytes()} bytes read`).join(', ')}`)
  t.same(stuck.map((c) => c.closed?.code), [1012, 1012], 'each was closed with 1012 (Service Restart)')
  t.same(stuck.map((c) => c.binaryBytes()), [FLOOD, FLOOD], 'after every byte the old sibling had queued for it')
  t.equal((await hardStop).closed, 2, 'the hard stop reports the two')
  t.equal(summary(movers).closed, 0, 'no moved client saw a close')
  await endDeploy(t, d, [...movers, ...stuck])
})

t.test('a new sibling that dies during the move: the old one keeps every connection it had not ACCEPTed', async (t) => {
  checkFdLeaks(t)
  const count = 200
  const dieAfter = 50
  const d = await startDeploy(t, {}, { dieAfter })
  const clients = Array.from({ length: count }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(clients)
  const stop = traffic(clients, 100)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))
  const { report } = await d.old.request('move', { address: d.nextPath, options: { concurrency: 8 } })
  await d.next.exited
  // It dies in its dieAfter-th resume hook; the ACCEPTs of the HANDOFFs it
  // read with that one had left together before any of their hooks ran
  // (one sendmsg per read): at most one read's worth more (concurrency 8).
  const moved = report.moved as number
  t.ok(moved >= dieAfter && moved <= dieAfter + 8, `the ${moved} it ACCEPTed moved (and died with it): ${dieAfter} resumed, + at most 8 ACCEPTed with them`)
  const kept = Object.values(report.kept as Record<string, number>).reduce((a, b) => a + b, 0)
  t.equal(kept, count - moved, `the other ${count - moved} were kept: ${JSON.stringify(report.kept)}`)
  t.ok(Object.keys(report.kept).every((r) => r === 'lost' || r === 'unavailable'), 'as lost (in flight) or unavailable (not tried)')
  const sentAfter = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.closed !== null || c.received > sentAfter[i]),
    () => `the kept ones answered after the move: ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(clients)))
  const survivors = clients.filter((c) => c.closed === null)
  t.equal(survivors.length, count - moved, 'exactly the ACCEPTed ones closed')
  t.same(summary(survivors).errors, [], 'the kept ones lost, duplicated and reordered nothing')
  t.ok(survivors.every((c) => c.lastPid === d.old.pid), 'and are served by the old sibling')
  t.equal((await d.old.request('stats')).closes, 0, 'the old sibling\'s "close" logic ran for none of them')
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(d.old.pid, d.baseline.old), d.baseline.old, 'old sibling: no descriptor left')
  t.equal(await fdsBackTo(d.web.pid, d.baseline.web), d.baseline.web, 'web app: no descriptor left')
  await stopChild(t, d.web, 'exit')
  await stopChild(t, d.old, 'exit')
})
