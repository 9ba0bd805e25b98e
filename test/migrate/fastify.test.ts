// A Fastify sibling with @fastify/websocket opts in with handoffMigration and
// two route options (wsState, wsResume): its WebSockets move through a
// deploy with their route state, resumed by the route's hook.
import path from 'node:path'
import t from 'tap'
import { forkFixture } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { finishDeploy } from '../helpers/sibling-deploy.js'
import { WsEcho, openAll, summary, traffic, until } from './helpers.js'

t.test('@fastify/websocket routes: WebSockets move with their route state, resumed by wsResume', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const oldPath = path.join(dir, 'old.sock')
  const nextPath = path.join(dir, 'next.sock')
  const old = forkFixture('migrate-fastify-sibling.js', { path: oldPath }, 'old sibling', t)
  const next = forkFixture('migrate-fastify-sibling.js', { path: nextPath }, 'new sibling', t)
  await Promise.all([old.event('ready'), next.event('ready')])
  const web = forkFixture('receiver-webapp.js', { path: oldPath }, 'web app', t)
  const { port } = await web.event('listening')
  const nextBaseline = openFds(next.pid).length
  const clients = Array.from({ length: 60 }, (_, i) => new WsEcho(`ws://127.0.0.1:${port}/ws/room-${i % 3}`, false))
  await openAll(clients)
  const stop = traffic(clients, 100)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))
  const { report } = await old.request('move', { address: nextPath })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 60, kept: {}, closed: 0 }, 'all 60 moved')
  await until(() => clients.every((c) => c.closed !== null || c.lastPid === next.pid), () => JSON.stringify(summary(clients)))
  stop()
  await until(() => clients.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(clients)))
  const s = summary(clients)
  t.same(s.errors, [], 'every number echoed once, in order')
  t.equal(s.closed, 0, 'no client closed (each resumed with its own room)')
  const [o, n] = [await old.request('stats'), await next.request('stats')]
  t.same({ closes: o.closes, migrated: o.migrated }, { closes: 0, migrated: 60 }, 'old: \'migrated\', never \'close\'')
  t.same({ opened: n.opened, resumed: n.resumed }, { opened: 0, resumed: 60 }, 'new: the route\'s wsResume, never its handler')
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(next.pid, nextBaseline), nextBaseline, 'new sibling: no descriptor left')
  await finishDeploy(t, { web, old, next })
})
