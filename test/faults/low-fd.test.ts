// Fault suite: the real receiver at a low descriptor limit (prlimit
// --nofile=48:48 on the running process, about 20 above what it holds idle).
// 40 WebSockets are handed off and held open, more than the limit leaves
// room for, then a storm of 300 handoffs comes while they are held. The
// kernel cannot install the descriptors past the limit (MSG_CTRUNC): each such
// handoff must be REJECTed descriptors-truncated and answered 503 by the web
// app, never lost; once the held connections close, everything is served.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import t from 'tap'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import {
  assertInvariants, checkFdLeaks, finishPair, since, startPair, storm, webappIdle, type Outcome
} from './helpers.js'

const LIMIT = 48
const HELD = 40
const STORM = 300

const noPrlimit = prerequisite(t, { name: 'prlimit', available: hasCommand('prlimit'), install: 'apt-get install util-linux' })

t.test(`a receiver at ${LIMIT} descriptors: every handoff past the limit is rejected as truncated, none lost`, { skip: noPrlimit }, async (t) => {
  t.setTimeout(120000)
  checkFdLeaks(t)
  const { receiver, webapp, receiverFds, webappFds } = await startPair(t, { name: 'low-fd-webapp' })
  execFileSync('prlimit', ['--pid', String(receiver.pid), `--nofile=${LIMIT}:${LIMIT}`])
  const limits = fs.readFileSync(`/proc/${receiver.pid}/limits`, 'latin1')
  t.match(limits, new RegExp(`Max open files\\s+${LIMIT}\\s+${LIMIT}`), `the receiver runs at ${LIMIT} descriptors (${receiverFds} open)`)

  const started = Date.now()
  let release = (): void => {}
  const held = storm(webapp.port, {
    total: HELD,
    concurrency: HELD,
    kind: () => 'upgrade',
    release: new Promise<void>((resolve) => { release = resolve })
  })
  // Every held upgrade answered (served and kept open, or 503).
  await webapp.waitFor(() => webapp.seen('result').length >= HELD, `${HELD} results`)
  const heldServed = webapp.seen('result').filter((r) => r.handedOff).length
  t.ok(heldServed < HELD, `the limit left room for ${heldServed} of ${HELD} held connections`)
  const during = await storm(webapp.port, { total: STORM, concurrency: 50 })
  release()
  const heldOutcomes = await held
  const stormMs = since(started)
  const all: Outcome[] = [...heldOutcomes, ...during]
  const counts = assertInvariants(t, all, HELD + STORM)

  await receiver.request('idle')
  await webappIdle(t, webapp)
  const results = webapp.seen('result')
  const refused = results.filter((r) => !r.handedOff)
  const reasons = new Set(refused.map((r) => `${String(r.outcome)}/${String(r.reason)}`))
  t.same([...reasons], ['rejected/descriptors-truncated'], 'every handoff that stayed was refused as truncated')
  t.equal(refused.length, counts.fallback, 'and answered 503')
  t.ok(receiver.seen('reject').every((r) => r.reject.reason === 'descriptors-truncated'), 'the receiver refused nothing else')

  // Room again: everything is served.
  const after = await storm(webapp.port, { total: 100, concurrency: 10 })
  t.equal(assertInvariants(t, after, 100).served, 100, 'with the held connections gone, every handoff is served')
  t.comment(`limit ${LIMIT} (${receiverFds} open idle): ${heldServed} of ${HELD} held upgrades served; ` +
    `with them held, ${STORM} more: ${JSON.stringify(counts)} over all ${HELD + STORM}; ${stormMs} ms; then 100 of 100 served`)

  await finishPair(t, receiver, receiverFds, webapp, webappFds)
})
