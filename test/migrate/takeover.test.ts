// A sibling deploy end to end (startSibling): the new sibling takes over the
// old one's listening socket at the same path, the web app keeps handing off
// throughout (no handoff refused, none answered 503), and every WebSocket
// the old one held moves to the new one, which then serves the path alone.
import path from 'node:path'
import t, { type Test } from 'tap'
import { forkFixture, type Child } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { finishDeploy } from '../helpers/sibling-deploy.js'
import { WsEcho, openAll, summary, traffic, until, type EchoClient } from './helpers.js'

interface SiblingOnPath { path: string, control: string, hardStop: number }

/**
 * An old sibling on the path a new one will take over (with its control
 * socket beside it), and a web app handing WebSockets off to that path.
 */
async function startOnOnePath (t: Test): Promise<{ config: SiblingOnPath, old: Child, web: Child, port: number }> {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const config = { path: path.join(dir, 'sibling.sock'), control: path.join(dir, 'control.sock'), hardStop: 500 }
  const old = forkFixture('migrate-sibling.js', config, 'old sibling', t)
  await old.event('ready')
  const web = forkFixture('receiver-webapp.js', { path: config.path }, 'web app', t)
  const { port } = await web.event('listening')
  return { config, old, web, port }
}

t.test('a new sibling takes over the path; handoffs never fail; WebSockets move', async (t) => {
  const { config, old, web, port } = await startOnOnePath(t)
  const webBaseline = openFds(web.pid).length
  const url = `ws://127.0.0.1:${port}/ws`
  const held = Array.from({ length: 100 }, () => new WsEcho(url, false))
  await openAll(held)
  const stop = traffic(held, 100)
  await until(() => held.every((c) => c.received >= 2), () => JSON.stringify(summary(held)))
  // New WebSockets all through the deploy, one after the other.
  const fresh: EchoClient[] = []
  let opening = true
  const opener = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
    while (opening) {
      const c = new WsEcho(url, false)
      fresh.push(c)
      await c.open()
      c.next()
    }
  })()
  const next = forkFixture('migrate-sibling.js', config, 'new sibling', t)
  await next.event('ready')
  const { report } = await old.event('moved')
  t.same({ kept: report.kept, closed: report.closed }, { kept: {}, closed: 0 }, 'nothing kept, nothing closed')
  t.ok(report.moved >= held.length, `every WebSocket moved (${report.moved} in ${report.ms} ms, ${report.sweeps} sweeps)`)
  const retired = await old.event('retired')
  t.equal(retired.closedAtHardStop, 0, 'the hard stop had nothing to close')
  await old.exited
  // Still opening: the path answers with the new sibling alone now.
  const after = fresh.length
  await until(() => fresh.length >= after + 10, () => `10 more WebSockets after the old sibling exited (${fresh.length - after})`)
  opening = false
  await opener
  stop()
  // One more message from each: its echo comes from the new sibling.
  for (const c of fresh) c.next()
  const all = [...held, ...fresh]
  await until(() => all.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(all)))
  const s = summary(all)
  t.same(s.errors, [], 'every number echoed once, in order')
  t.equal(s.closed, 0, `no client closed (${held.length} held, ${fresh.length} opened during the deploy)`)
  t.ok(all.every((c) => c.lastPid === next.pid), 'all are served by the new sibling in the end')
  const results = web.seen('result')
  t.same(results.filter((r) => r.outcome !== 'accepted').map((r) => r.outcome), [], `every one of ${results.length} handoffs was accepted: none fell back`)
  // The new sibling holds each client's socket now, and nothing else of theirs.
  const nextServing = openFds(next.pid).length
  for (const c of all) c.end()
  await until(() => all.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(web.pid, webBaseline), webBaseline, 'web app: no descriptor left')
  t.equal(await fdsBackTo(next.pid, nextServing - all.length), nextServing - all.length, 'new sibling: no descriptor left')
  await finishDeploy(t, { web, old, next })
})

t.test('a new sibling that dies during the move: the old one serves the path again, with what it kept', async (t) => {
  const { config, old, web, port } = await startOnOnePath(t)
  const url = `ws://127.0.0.1:${port}/ws`
  const held = Array.from({ length: 100 }, () => new WsEcho(url, false))
  await openAll(held)
  const stop = traffic(held, 100)
  await until(() => held.every((c) => c.received >= 2), () => JSON.stringify(summary(held)))
  const next = forkFixture('migrate-sibling.js', { ...config, dieAfter: 30 }, 'new sibling', t)
  const { report } = await old.event('moved')
  await next.exited
  // It dies in its 30th resume hook; the ACCEPTs read with that one's HANDOFF
  // had left together before their hooks ran: at most one read's worth more
  // (the default concurrency, 8).
  const moved = report.moved as number
  t.ok(moved >= 30 && moved <= 38, `the ${moved} it ACCEPTed moved (and died with it): 30 resumed, + at most 8 ACCEPTed with them`)
  t.ok((report.kept.lost ?? 0) + (report.kept.unavailable ?? 0) === 100 - moved, `the other ${100 - moved} stayed: ${JSON.stringify(report.kept)}`)
  // The path answers again: the old sibling accepts on the same socket.
  const fresh = Array.from({ length: 10 }, () => new WsEcho(url, false))
  await openAll(fresh)
  for (const c of fresh) c.next()
  stop()
  const survivors = held.filter((c) => c.closed === null)
  for (const c of survivors) c.next()
  const live = [...survivors, ...fresh]
  await until(() => live.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(live)))
  t.equal(survivors.length, 100 - moved, 'exactly the moved ones closed (their sibling died)')
  t.same(summary(live).errors, [], 'every number echoed once, in order')
  t.equal(summary(live).closed, 0, 'none of the others closed')
  t.ok(live.every((c) => c.lastPid === old.pid), 'the old sibling serves them all, new ones included')
  t.same(web.seen('result').filter((r) => r.outcome !== 'accepted').map((r) => r.outcome), [], 'no handoff fell back')
  for (const c of [...held, ...fresh]) c.end()
  await until(() => [...held, ...fresh].every((c) => c.closed !== null), () => 'clients closing')
  await finishDeploy(t, { web, old, next })
})
