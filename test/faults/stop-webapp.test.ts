// Fault suite: a stalled web app. Web app A (the real sender, timeout 300 ms,
// grace 200 ms) is SIGSTOPped in the middle of a storm of handoffs, with
// some in flight and ACCEPTs it has not read; the receiver serves those
// clients anyway (it owns them once its ACCEPT is in the channel) and keeps
// serving web app B, a second sender process, without blocking on A. A is
// kept stopped past deadline + grace, then SIGCONTinued: the ACCEPTs waiting
// in its channel are honoured (never a 503 on top of the sibling's answer),
// nothing is double-served, lost or hung, and every process gets its
// descriptors back.
import t from 'tap'
import {
  assertInvariants, checkFdLeaks, expectFds, since, sockIn, socketDir, startReceiver, startWebapp, stopChild, storm, webappIdle,
  type Outcome
} from './helpers.js'

const TIMEOUT = 300
const GRACE = 200
const A_TOTAL = 400
const STOP_AFTER_RESULTS = 100
const B_ROUND = 200

t.test('a web app SIGSTOPped with handoffs in flight, past deadline + grace, beside a second web app', async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  const sockPath = sockIn(socketDir(t))
  const receiver = await startReceiver(t, sockPath)
  const a = await startWebapp(t, sockPath, { timeout: TIMEOUT, grace: GRACE, name: 'webapp-a' }, 'webapp A')
  await receiver.event('peer', (m) => m.peer.name === 'webapp-a')
  const b = await startWebapp(t, sockPath, { name: 'webapp-b' }, 'webapp B')
  await receiver.event('peer', (m) => m.peer.name === 'webapp-b')
  const fds = { receiver: receiver.fds(), a: a.fds(), b: b.fds() }

  const started = Date.now()
  let stoppedAt = 0
  let stopped: () => void = () => {}
  const whenStopped = new Promise<void>((resolve) => { stopped = resolve })
  // A's storm: stopped on a count of settled handoffs, with others in flight.
  const onA = a.waitFor(() => a.seen('result').length >= STOP_AFTER_RESULTS, `${STOP_AFTER_RESULTS} results from A`).then(() => {
    process.kill(a.pid, 'SIGSTOP')
    stoppedAt = Date.now()
    stopped()
  })
  const aStorm = storm(a.port, { total: A_TOTAL, concurrency: 20 })
  await whenStopped
  const settledBeforeStop = a.seen('result').length
  const acceptedBeforeStop = a.seen('result').filter((r) => r.handedOff).length

  // B is served while A is stopped; rounds until A has been stopped past
  // deadline + grace (bounded: at most 10 rounds).
  const bOutcomes: Outcome[] = []
  let rounds = 0
  while (rounds < 10 && (rounds === 0 || since(stoppedAt) <= TIMEOUT + GRACE)) {
    bOutcomes.push(...await storm(b.port, { total: B_ROUND, concurrency: 20 }))
    rounds++
  }
  const stopMs = since(stoppedAt)
  const bServed = assertInvariants(t, bOutcomes, rounds * B_ROUND).served
  t.equal(bServed, rounds * B_ROUND, 'web app B is served throughout, the receiver does not block on A')
  t.ok(bOutcomes.every((o) => o.servedBy === receiver.pid), 'by the receiver')
  t.ok(stopMs > TIMEOUT + GRACE, `A stayed stopped past deadline + grace (${stopMs} ms)`)
  const servedWhileStopped = (await receiver.request('stats')).stats
  process.kill(a.pid, 'SIGCONT')
  await onA

  const aOutcomes = await aStorm
  const counts = assertInvariants(t, aOutcomes, A_TOTAL)
  await webappIdle(t, a)
  const results = new Map(a.seen('result').map((r) => [r.index as number, r]))
  t.equal(results.size, A_TOTAL, 'A settled every handoff once')
  const mismatched = aOutcomes.filter((o) => (o.verdict === 'served') !== (results.get(o.index)?.handedOff === true))
  t.same(mismatched, [], 'A answered 503 exactly the clients it kept, and no client the receiver served')
  t.same(a.seen('log').filter((l) => l.code === 'ERR_HANDOFF_LATE_ACCEPT'), [], 'no late ACCEPT')
  const outcomes: Record<string, number> = {}
  for (const r of results.values()) outcomes[String(r.outcome)] = (outcomes[String(r.outcome)] ?? 0) + 1
  t.comment(`A: ${A_TOTAL} clients, stopped after ${settledBeforeStop} settled, for ${stopMs} ms: ${JSON.stringify(counts)} (${JSON.stringify(outcomes)}); ` +
    `B: ${rounds * B_ROUND} served while A was stopped; up to ${servedWhileStopped.total - acceptedBeforeStop - bServed} of A's handoffs accepted by the receiver ` +
    `while A was stopped (its ACCEPTs unread until SIGCONT); ${since(started)} ms in all`)

  await receiver.request('idle')
  await webappIdle(t, b)
  await expectFds(t, a.pid, fds.a, 'web app A')
  await expectFds(t, b.pid, fds.b, 'web app B')
  await expectFds(t, receiver.pid, fds.receiver, 'receiver')
  await stopChild(t, a, 'exit')
  await stopChild(t, b, 'exit')
  await stopChild(t, receiver, 'close')
})
