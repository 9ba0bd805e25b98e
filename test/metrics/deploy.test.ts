// The deploy figures (deployStats(), docs/metrics.md) in the processes that
// did the work: a running web-app generation counts a rolled-back takeover
// (a successor that crashed before READY) and then a handed-over one; an
// old sibling counts the WebSockets a live migration moved.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { forkFixture, stopChild } from '../helpers/child.js'
import { tmpDir } from '../helpers/tmp.js'
import { finishDeploy, startDeploy } from '../helpers/sibling-deploy.js'
import { startGen } from '../takeover/helpers.js'
import { WsEcho, openAll, summary, until } from '../migrate/helpers.js'

t.test('takeovers: the running generation counts a rollback, then a handover', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'metrics-takeover-'), 'control.sock')
  const first = await startGen(t, { control, readyTimeout: 60000 }, 'generation 1')
  const crash = forkFixture('takeover-webapp.js', { control, fault: 'crash-before-ready' }, 'crashing generation', t)
  t.equal((await crash.exited).code, 3, 'a successor crashed after taking the listeners')
  t.same((await first.child.event('rollback')).deploy.takeovers, { handedOver: 0, rolledBack: 1 }, 'rolled back: counted')
  const second = await startGen(t, { control, port: first.port }, 'generation 2')
  t.same((await first.child.event('handover')).deploy.takeovers, { handedOver: 1, rolledBack: 1 }, 'handed over: counted')
  await first.child.event('retired')
  t.same(await first.child.exited, { code: 0, signal: null })
  await stopChild(t, second.child, 'close')
})

t.test('a live migration: the old sibling counts the WebSockets it moved', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {})
  const clients = Array.from({ length: 5 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(clients)
  t.same((await d.old.request('stats')).deploy.migration, { runs: 0, moved: 0, kept: {}, closed: 0 }, 'nothing before the move')
  const { report } = await d.old.request('move', { address: d.nextPath })
  t.equal(report.moved, 5)
  t.same((await d.old.request('stats')).deploy.migration, { runs: 1, moved: 5, kept: {}, closed: 0 }, 'the move, counted')
  t.same((await d.next.request('stats')).deploy.migration, { runs: 0, moved: 0, kept: {}, closed: 0 }, 'the new sibling moved nothing')
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => JSON.stringify(summary(clients)))
  await finishDeploy(t, d)
})
