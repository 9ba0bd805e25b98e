// handoffMigration across routes that say more or less about their moves:
// a route with its own wsState and wsResume, one with neither (the plugin's
// `state` and `resume` serve it), one with only wsState, one with only
// wsResume, and a WebSocket that came from a plain ws sibling (no route at
// all). Each is resumed by the hook its route calls for, with the state its
// route calls for; a new sibling with no hook for a route REJECTs its
// WebSockets, which stay (kept: refused) and are served on where they are.
// The first sibling has no handoffReceiver (it accepts its WebSockets
// itself): it can move them out.
import path from 'node:path'
import t from 'tap'
import { forkFixture, stopChild, type Child } from '../helpers/child.js'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { WsEcho, openAll, summary, traffic, until, type EchoClient } from './helpers.js'

interface Resume { hook: string, route: string | null, state: unknown }

const byHook = (a: Resume, b: Resume): number => `${a.hook}${String(a.route)}`.localeCompare(`${b.hook}${String(b.route)}`)

t.test('each route\'s WebSockets resumed by the hook and with the state it calls for; none for a route: refused, served on', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-migrate-')
  const strictPath = path.join(dir, 'strict.sock')
  const fullPath = path.join(dir, 'full.sock')
  const first = forkFixture('migrate-fastify-sibling.js',
    { receiver: false, fallback: true, plugin: { compression: 'no-context', move: { concurrency: 2 } } }, 'first sibling (no receiver)', t)
  const strict = forkFixture('migrate-fastify-sibling.js', { path: strictPath }, 'sibling without fallback hooks', t)
  const full = forkFixture('migrate-fastify-sibling.js', { path: fullPath, fallback: true }, 'sibling with fallback hooks', t)
  const plain = forkFixture('migrate-sibling.js', { path: path.join(dir, 'plain.sock'), listen: true }, 'plain ws sibling', t)
  const [{ port }, , , { port: plainPort }] = await Promise.all([first.event('ready'), strict.event('ready'), full.event('ready'), plain.event('ready')])
  const children: Child[] = [first, strict, full, plain]
  const baselines = children.map((c) => c.fds())

  const url = (p: string): string => `ws://127.0.0.1:${port}${p}`
  const [room, bare, stateful, resumable] = ['/ws/red', '/plain', '/stateful?n=7', '/resumable'].map((p) => new WsEcho(url(p), false))
  const routeless = new WsEcho(`ws://127.0.0.1:${plainPort}/ws`, false)
  const clients: EchoClient[] = [room, bare, stateful, resumable, routeless]
  await openAll(clients)
  const stop = traffic(clients, 50)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))

  // To a sibling without the plugin's hooks: only the routes with their own wsResume move.
  let { report } = await first.request('move', { address: strictPath })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 2, kept: { refused: 2 }, closed: 0 },
    'the two routes with a wsResume moved; the two without were refused (no resume hook there) and stayed')
  t.same(((await strict.request('stats')).resumes as Resume[]).sort(byHook), [
    { hook: 'resumable', route: '/resumable', state: { route: '/resumable' } },
    { hook: 'room', route: '/ws/:room', state: { room: 'red' } }
  ], 'each by its route\'s wsResume; the state: its wsState, else the plugin\'s state (which gets the route)')
  // Then to one with them: the other two move.
  ;({ report } = await first.request('move', { address: fullPath }))
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 2, kept: {}, closed: 0 }, 'the refused two moved to the next one')
  // And a WebSocket of a plain ws server: no route, the plugin's resume.
  ;({ report } = await plain.request('move', { address: fullPath }))
  t.same({ moved: report.moved, kept: report.kept }, { moved: 1, kept: {} }, 'the plain sibling\'s WebSocket moved to the Fastify one')
  t.same(((await full.request('stats')).resumes as Resume[]).sort(byHook), [
    { hook: 'fallback', route: '/plain', state: { route: '/plain' } },
    { hook: 'fallback', route: '/stateful', state: { stateful: 7 } },
    { hook: 'fallback', route: null, state: { from: plain.pid } }
  ].sort(byHook), 'each by the plugin\'s resume, with its route\'s wsState or the plugin\'s state; the routeless one with its own app\'s state')
  // Nothing of these three has a resume hook on the strict sibling (one has no route at all).
  ;({ report } = await full.request('move', { address: strictPath }))
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 0, kept: { refused: 3 }, closed: 0 }, 'all three refused, and kept')

  let sentAt = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.closed !== null || c.received > sentAt[i] + 2), () => `echoes after the moves: ${JSON.stringify(summary(clients))}`)
  t.same(clients.map((c) => c.lastPid), [strict.pid, full.pid, full.pid, strict.pid, full.pid], 'each served where it moved, or stayed')
  // Back from the strict one: /resumable has no state of its own and that app none for it: it moves without.
  const resumed = ((await full.request('stats')).resumes as Resume[]).length
  ;({ report } = await strict.request('move', { address: fullPath }))
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 2, kept: {}, closed: 0 }, 'both moved on')
  t.same(((await full.request('stats')).resumes as Resume[]).slice(resumed).sort(byHook), [
    { hook: 'resumable', route: '/resumable', state: null },
    { hook: 'room', route: '/ws/:room', state: { room: 'red' } }
  ], 'by their own hooks; the room still carried by its wsState, no state for the other')
  sentAt = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.closed !== null || c.received > sentAt[i] + 2), () => `echoes after the last move: ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(clients)))
  t.same(summary(clients).errors, [], 'every number echoed once, in order, through every move and refusal')
  t.equal(summary(clients).closed, 0, 'no client saw a close')
  t.ok(clients.every((c) => c.lastPid === full.pid), 'all served by the sibling with the fallback hooks at the end')
  t.same((await first.request('stats')).closes, 0, 'the first sibling\'s "close" ran for none of the moved ones')

  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  for (const [i, c] of children.entries()) t.equal(await fdsBackTo(c.pid, baselines[i]), baselines[i], `${c.label}: no descriptor left`)
  for (const c of children) await stopChild(t, c, 'exit')
})
