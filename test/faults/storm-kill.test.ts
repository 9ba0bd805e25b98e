// Fault suite: the receiver is SIGKILLed in the middle of a storm of 1,000
// handoffs (50 in flight), then a new receiver starts on the same path. The
// real sender (createSender in a node:http web app) and the real receiver
// (createReceiver in a node:http + ws sibling), each in its own process.
// Every client gets exactly one answer (the sibling's, or the web app's 503)
// or, if the dead receiver already owned it (its ACCEPT was read), a close;
// none hangs; every process gets its descriptors back; the sender reconnects
// on its own and serves again.
import t from 'tap'
import {
  assertInvariants, checkFdLeaks, finishPair, since, startPair, startReceiver, storm, webappIdle, type Message
} from './helpers.js'

const TOTAL = 1000
const CONCURRENCY = 50
const KILL_AFTER_SERVED = 300
const AFTER_RESTART = 100

t.test('SIGKILL of the receiver during a storm of 1,000 handoffs, then a new receiver', async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  const { sockPath, receiver, webapp, webappFds } = await startPair(t, { name: 'storm-webapp' })

  const started = Date.now()
  let killedAfter = -1
  const outcomes = await storm(webapp.port, {
    total: TOTAL,
    concurrency: CONCURRENCY,
    onOutcome: (outcome, all) => {
      // On a count of answers, not a timer: the receiver is mid-storm.
      if (killedAfter === -1 && all.filter((o) => o.verdict === 'served').length >= KILL_AFTER_SERVED) {
        killedAfter = all.length
        receiver.kill()
      }
    }
  })
  const stormMs = since(started)
  t.equal((await receiver.exited).signal, 'SIGKILL', 'the receiver was SIGKILLed mid-storm')
  await webappIdle(t, webapp)

  // Each client against the web app's own verdict (by the client's index:
  // loopback reuses a port in TIME_WAIT within a run of 1,000, tcp_tw_reuse=2).
  const results = new Map<number, Message>()
  for (const r of webapp.seen('result')) results.set(r.index as number, r)
  t.equal(results.size, TOTAL, 'the web app settled every handoff once')
  // A connection whose ACCEPT the web app read was the dead receiver's: the
  // kernel closed it with that process, maybe in the middle of its answer.
  // Those are the only clients allowed to see a close without a whole answer.
  const ownedByDead = new Set([...results.values()].filter((r) => r.handedOff).map((r) => r.index as number))
  const counts = assertInvariants(t, outcomes, TOTAL, ownedByDead)
  const mismatched = outcomes.filter((o) => (o.verdict === 'served') !== (results.get(o.index)?.handedOff === true) && o.verdict !== 'lost' && o.verdict !== 'cut')
  t.same(mismatched, [], 'served exactly when the web app read an ACCEPT; a 503 exactly when it did not')
  t.ok(outcomes.filter((o) => o.verdict === 'served').every((o) => o.servedBy === receiver.pid), 'every sibling answer came from the receiver')
  t.ok(counts.fallback > 0, 'the handoffs after the kill fell back to 503')
  t.ok(counts.lost + counts.cut <= CONCURRENCY, `at most the handoffs in flight died with the receiver (${counts.lost + counts.cut})`)
  const outcomesOf = (o: Message): string => `${String(o.outcome)}${o.code === undefined ? '' : `/${String(o.code)}`}`
  const byOutcome: Record<string, number> = {}
  for (const r of results.values()) byOutcome[outcomesOf(r)] = (byOutcome[outcomesOf(r)] ?? 0) + 1
  t.comment(`storm: ${TOTAL} clients, ${CONCURRENCY} in flight, killed after ${killedAfter} finished, ${stormMs} ms: ` +
    `${JSON.stringify(counts)}; web app outcomes ${JSON.stringify(byOutcome)}`)

  // A new receiver on the same path: the sender reconnects by itself.
  const restarted = Date.now()
  const second = await startReceiver(t, sockPath, 'receiver 2')
  await second.event('peer')
  const reconnectMs = since(restarted)
  const secondFds = second.fds()
  const again = await storm(webapp.port, { total: AFTER_RESTART, concurrency: 10 })
  const againCounts = assertInvariants(t, again, AFTER_RESTART)
  t.equal(againCounts.served, AFTER_RESTART, 'every handoff after the restart is served')
  t.ok(again.every((o) => o.servedBy === second.pid), 'by the new receiver')
  t.comment(`reconnect: the sender's HELLO reached the new receiver ${reconnectMs} ms after it started; ${AFTER_RESTART} served after`)

  await finishPair(t, second, secondFds, webapp, webappFds)
})
