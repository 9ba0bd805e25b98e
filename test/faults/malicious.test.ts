// Fault suite: a malicious receiver (test/fixtures/sibling-faulty.js, built on
// the Channel and the codec, not on createReceiver) against the real sender
// (createSender in a node:http web app, timeout 300 ms, grace 200 ms). One
// behaviour after another, each with 8 clients at once: ACCEPT twice, ACCEPT
// for an id never sent, REJECT then ACCEPT, descriptors riding on its ACCEPT,
// a header announcing a huge frame, half a frame then the end of the channel,
// ERROR, garbage, silence, a REJECT after the deadline, a plain REJECT.
// Whatever it does: no client hangs, none is answered twice, none is left
// without an answer unless the sender could not know who owned it (outcome
// 'doubt', documented: the connection is then closed unanswered, never
// written by two processes), and the web app keeps serving and ends with
// the descriptors it started with.
import t, { type Test } from 'tap'
import {
  assertInvariants, checkFdLeaks, expectFds, forkFixture, since, sockIn, socketDir, startWebapp, stopChild, storm, webappIdle,
  type Child, type Outcome
} from './helpers.js'

const CLIENTS = 8
/** Behaviours after which the sender cannot read the channel on: the only ones that may leave it in doubt. */
const BREAKS_FRAMING = new Set(['huge-frame', 'garbage'])
/** [mode, whether it holds descriptors until told to let go]. */
const BEHAVIOURS: Array<[string, boolean]> = [
  ['accept-twice', false],
  ['accept-unknown', false],
  ['reject-then-accept', false],
  ['send-fds', false],
  ['huge-frame', false],
  ['close-mid-frame', false],
  ['error', false],
  ['garbage', true],
  ['silent', true],
  ['expire', false],
  ['reject', false]
]

/** Polls the web app's health until its sender has a receiver taking handoffs (bounded). */
async function healthy (t: Test, webapp: Child): Promise<void> {
  const deadline = Date.now() + 15000
  let health = (await webapp.request('health')).health
  while (health.sibling.healthy !== true && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    health = (await webapp.request('health')).health
  }
  if (health.sibling.healthy !== true) t.fail('the web app found no healthy receiver', { health })
}

t.test(`a malicious receiver, ${BEHAVIOURS.length} behaviours`, async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  const sockPath = sockIn(socketDir(t))
  const faulty = forkFixture('sibling-faulty.js', { path: sockPath }, 'malicious receiver', t)
  await faulty.event('ready')
  const webapp = await startWebapp(t, sockPath, { timeout: 300, grace: 200, name: 'malicious-webapp' })
  await faulty.event('peer')
  await healthy(t, webapp)
  const webappFds = webapp.fds()
  const faultyFds = faulty.fds()

  const started = Date.now()
  const figures: string[] = []
  for (const [mode, holds] of BEHAVIOURS) {
    await faulty.request('mode', { mode })
    await healthy(t, webapp)
    const before = webapp.seen('result').length
    let release = (): void => {}
    const released = new Promise<void>((resolve) => { release = resolve })
    const run = storm(webapp.port, { total: CLIENTS, concurrency: CLIENTS, kind: () => 'request', ...(holds ? { release: released } : {}) })
    if (holds) {
      // The receiver keeps its copies: the clients can only close once it lets go.
      await webapp.waitFor(() => webapp.seen('result').length >= before + CLIENTS, `${mode}: ${CLIENTS} results`)
      await faulty.request('release')
      release()
    }
    const outcomes: Outcome[] = await run
    await webappIdle(t, webapp)
    const results = webapp.seen('result').slice(before)
    const byIndex = new Map(results.map((r) => [r.index as number, r]))
    // 'doubt': the sender could not tell who owned the connection, so it
    // closed its copy without a word; the client sees the close, once the
    // receiver let go of its own copy.
    const doubt = new Set(results.filter((r) => r.outcome === 'doubt').map((r) => r.index as number))
    t.test(mode, async (t) => {
      const counts = assertInvariants(t, outcomes, CLIENTS, doubt)
      t.ok(doubt.size === 0 || BREAKS_FRAMING.has(mode), `in doubt only when the framing broke (${doubt.size})`)
      t.ok(outcomes.every((o) => o.verdict !== 'served' || byIndex.get(o.index)?.handedOff === true), 'served only when the web app let the connection go')
      const outcomeCounts: Record<string, number> = {}
      for (const r of results) outcomeCounts[String(r.outcome)] = (outcomeCounts[String(r.outcome)] ?? 0) + 1
      figures.push(`${mode}: ${JSON.stringify(counts)} ${JSON.stringify(outcomeCounts)}`)
    })
  }

  // After all that, the web app still serves.
  await faulty.request('mode', { mode: 'accept' })
  await healthy(t, webapp)
  const last = await storm(webapp.port, { total: 20, concurrency: 5, kind: () => 'request' })
  t.equal(assertInvariants(t, last, 20).served, 20, 'the web app keeps serving')
  const violations = webapp.seen('log').filter((l) => l.level === 'error').map((l) => l.code)
  t.comment(`${BEHAVIOURS.length} behaviours x ${CLIENTS} clients, ${since(started)} ms; the sender logged ${violations.length} errors (${[...new Set(violations)].join(', ')})`)
  for (const line of figures) t.comment(line)

  await faulty.request('release')
  await webappIdle(t, webapp)
  await expectFds(t, webapp.pid, webappFds, 'web app (descriptors sent back by the receiver closed)')
  await expectFds(t, faulty.pid, faultyFds, 'malicious receiver')
  await stopChild(t, webapp, 'exit')
  await faulty.event('peerClose')
  await stopChild(t, faulty, 'exit')
})
