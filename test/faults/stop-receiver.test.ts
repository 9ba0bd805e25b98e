// Fault suite: the receiver is SIGSTOPped with handoffs in flight, past their
// deadline + grace (timeout 300 ms, grace 200 ms), then SIGCONTinued, eight
// times over. The real sender answers each frozen client 503 once deadline +
// grace has passed; the thawed receiver must not serve any of them (it finds
// them expired or their clients gone: REJECT, never a late ACCEPT), and the
// clients, which keep their side open until the receiver has thawed, get
// nothing after the 503. Then the receiver serves again.
import fs from 'node:fs'
import t from 'tap'
import {
  assertInvariants, checkFdLeaks, expectFds, finishPair, since, startPair, storm
} from './helpers.js'

const ROUNDS = 8
const FROZEN_PER_ROUND = 4
const TIMEOUT = 300
const GRACE = 200

/** The state letter of /proc/<pid>/stat ('T' once stopped), polled with a bound. */
async function waitState (pid: number, state: string): Promise<string> {
  const deadline = Date.now() + 10000
  let seen = ''
  for (;;) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    seen = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    if (seen === state || Date.now() >= deadline) return seen
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test(`SIGSTOP of the receiver past deadline + grace, ${ROUNDS} rounds of ${FROZEN_PER_ROUND} handoffs`, async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  const { receiver, webapp, receiverFds, webappFds } = await startPair(t, { timeout: TIMEOUT, grace: GRACE, name: 'stop-webapp' })
  const accepted = (await receiver.request('stats')).stats.total

  const started = Date.now()
  let frozen = 0
  let timeouts = 0
  let served = 0
  for (let round = 0; round < ROUNDS; round++) {
    process.kill(receiver.pid, 'SIGSTOP')
    t.equal(await waitState(receiver.pid, 'T'), 'T', `round ${round}: the receiver is stopped`)
    let thawed = (): void => {}
    const release = new Promise<void>((resolve) => { thawed = resolve })
    const results = webapp.seen('result').length
    // The clients are answered (503 and FIN) while the receiver is still
    // stopped; they hold their side open until it has thawed and settled.
    const clients = storm(webapp.port, { total: FROZEN_PER_ROUND, concurrency: FROZEN_PER_ROUND, release })
    await webapp.waitFor(() => webapp.seen('result').length >= results + FROZEN_PER_ROUND, `round ${round}: ${FROZEN_PER_ROUND} results`)
    const settled = webapp.seen('result').slice(results)
    t.ok(settled.every((r) => !r.handedOff), `round ${round}: nothing handed off to a stopped receiver`)
    timeouts += settled.filter((r) => r.outcome === 'timeout').length
    frozen += FROZEN_PER_ROUND

    process.kill(receiver.pid, 'SIGCONT')
    // Thawed, the receiver reads the HANDOFFs it was frozen on (the sender
    // has replaced that channel by now) and answers its new HELLO.
    await receiver.event('peer')
    await expectFds(t, receiver.pid, receiverFds, `round ${round}: receiver, its copies of the frozen connections closed`)
    thawed()
    const outcomes = await clients
    const counts = assertInvariants(t, outcomes, FROZEN_PER_ROUND)
    t.equal(counts.fallback, FROZEN_PER_ROUND, `round ${round}: every frozen client got the web app's 503, and nothing after it`)

    const after = await storm(webapp.port, { total: 4, concurrency: 4 })
    t.equal(assertInvariants(t, after, 4).served, 4, `round ${round}: the thawed receiver serves new handoffs`)
    served += 4
    // A client can see its answer before the web app reports the result:
    // wait for those reports, or the next round would count them as its own.
    await webapp.waitFor(() => webapp.seen('result').length >= results + FROZEN_PER_ROUND + 4, `round ${round}: results of the served handoffs`)
  }
  const ms = since(started)

  const stats = (await receiver.request('idle')).stats
  t.equal(stats.total - accepted, served, 'the receiver accepted only the handoffs made while it ran: none it was frozen on')
  const late = webapp.seen('log').filter((l) => l.code === 'ERR_HANDOFF_LATE_ACCEPT')
  t.same(late, [], 'no late ACCEPT')
  const rejects: Record<string, number> = {}
  for (const r of receiver.seen('reject')) rejects[r.reject.reason] = (rejects[r.reject.reason] ?? 0) + 1
  t.comment(`${ROUNDS} stops, ${frozen} frozen handoffs (${timeouts} timed out at deadline + grace, the rest refused at once ` +
    `while the receiver was unresponsive), all answered 503 once; ${served} served after thawing; receiver REJECTs ${JSON.stringify(rejects)}; ${ms} ms`)

  await finishPair(t, receiver, receiverFds, webapp, webappFds)
})
