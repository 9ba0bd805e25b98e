// Successors that go wrong, against a real running generation (a child
// process serving HTTP), with this test process as the successor: one that
// cannot start after the OFFER (an option it cannot use) lets go of
// everything; one too slow to be ready is told to let go (ABORT) and its
// ready() says so; one that does not use a listener it was offered is warned
// that the listener closes with it. Each time the running generation serves
// on, or retires only once the successor has committed; this process keeps
// no descriptor. And the options a generation cannot use, refused, typed,
// before anything is taken or left behind.
import t from 'tap'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { stopChild } from '../helpers/child.js'
import { getJson } from '../examples/helpers.js'
import { closeFds } from '../../plugin/channel.js'
import { listen, takeover, type Generation } from '../../plugin/takeover/index.js'
import { startGen } from './helpers.js'

/** A takeover log that keeps its lines. */
function lines (): { log: (level: 'info' | 'warn', msg: string) => void, seen: string[] } {
  const seen: string[] = []
  return { log: (level, msg) => { seen.push(`${level}: ${msg}`) }, seen }
}

t.test('options a generation cannot use: refused, typed, naming the option; nothing left behind', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-opts-'), 'control.sock')
  await t.rejects(takeover({} as Parameters<typeof takeover>[0]), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"control"/ }, 'no control path')
  await t.rejects(takeover({ control, askTimeout: 0 }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"askTimeout"/ }, 'askTimeout 0')
  await t.rejects(takeover({ control, readyTimeout: 2.5 }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"readyTimeout"/ }, 'readyTimeout 2.5')
  const server = http.createServer()
  await t.rejects(listen(server, { control, drainTimeout: -1 }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"drainTimeout"/ }, 'drainTimeout -1')
  t.notOk(server.listening, 'the server was not left listening')
  const gen = await takeover({ control })
  t.teardown(() => gen.close())
  t.throws(() => gen.offer({ name: 'control', kind: 'unix', address: control, fd: () => -1 }),
    { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"control" is the takeover socket's own name/ }, 'a listener named "control"')
  t.equal(gen.handedOver, false, 'not handed over before it is even ready')
  gen.close()
  t.notOk(fs.existsSync(control), 'no control socket left behind by any of them')
})

t.test('a successor that cannot start after the OFFER, or gives up: it lets go of everything; the running generation rolls back and serves on', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-succ-'), 'control.sock')
  const running = await startGen(t, { control }, 'running generation')
  await t.rejects(takeover({ control, readyTimeout: 0 }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"readyTimeout"/ },
    'its own option, found bad once the OFFER came')
  await running.child.event('rollback')
  t.ok(running.child.seen('log').some((l) => /closed the control channel \(exited\?\) before it was ready/.test(l.msg)), 'the running generation says why it rolled back')
  t.equal((await getJson(`http://127.0.0.1:${running.port}/gen`)).pid, running.pid, 'and serves on')
  // One that gives up by itself before it is ready: close() lets go of what it was offered.
  const quitter = await takeover({ control })
  quitter.close()
  await running.child.event('rollback')
  t.equal((await getJson(`http://127.0.0.1:${running.port}/gen`)).pid, running.pid, 'the running generation serves on again')
  await stopChild(t, running.child, 'close')
})

t.test('a successor too slow to be ready: ABORT; its ready() rejects, it serves nothing; the running generation serves on', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-succ-'), 'control.sock')
  const running = await startGen(t, { control, readyTimeout: 300 }, 'running generation')
  const { log, seen } = lines()
  const gen: Generation = await takeover({ control, log, name: 'slow successor' })
  t.teardown(() => gen.close())
  const claimed = gen.claim('http')
  t.match(claimed, { kind: 'tcp', source: 'takeover' }, 'it got the listener')
  // It is not ready when the running generation stops waiting.
  await running.child.event('rollback')
  await t.rejects(gen.ready(), { code: 'ERR_HANDOFF_TAKEOVER_ABORTED', message: /did not report ready within 300 ms/ }, 'its ready() says it was called off')
  if (claimed !== null) closeFds([claimed.fd])
  gen.close()
  t.same(seen.filter((l) => l.startsWith('info: takeover: generation')), [], 'it never took over')
  t.equal((await getJson(`http://127.0.0.1:${running.port}/gen`)).pid, running.pid, 'the running generation serves on')
  t.ok(fs.existsSync(control), 'the control socket is still the running generation\'s')
  await stopChild(t, running.child, 'close')
})

t.test('a successor that does not use a listener it was offered: warned that it closes with it; the old generation retires', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-succ-'), 'control.sock')
  const running = await startGen(t, { control }, 'running generation')
  const { log, seen } = lines()
  const gen = await takeover({ control, log, name: 'partial successor' })
  await gen.ready()
  t.ok(seen.some((l) => /^warn: takeover: the predecessor offered listener\(s\) http that this generation does not use: they close with it/.test(l)),
    'warned about the listener it left')
  t.equal(gen.generation, 2, 'generation 2')
  t.same(await running.child.exited, { code: 0, signal: null }, 'the old generation handed over, drained and exited')
  await t.rejects(getJson(`http://127.0.0.1:${running.port}/gen`), { code: 'ECONNREFUSED' }, 'nobody listens on the port any more, as warned')
  gen.close()
  t.notOk(fs.existsSync(control), 'closing the last generation removes the control socket')
})

t.test('two generations in one process over IPv6 loopback: the second takes the socket, the first drains and retires', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-v6-'), 'control.sock')
  const answer = (who: string) => http.createServer((req, res) => res.end(JSON.stringify({ who })))
  const first = answer('first')
  const a = lines()
  const one = await listen(first, { control, host: '::1', log: a.log })
  t.match(one, { source: 'bind', address: /^\[::1\]:\d+$/ }, 'bound on [::1]')
  const second = answer('second')
  const b = lines()
  const retired = new Promise<{ forced: number }>((resolve) => one.generation.once('retired', resolve))
  const two = await listen(second, { control, host: '::1', log: b.log })
  t.match(two, { source: 'takeover', address: one.address }, 'the second took the same socket')
  t.same(await retired, { forced: 0 }, 'the first drained with nothing forced')
  t.same(await getJson(`http://${two.address}/`), { who: 'second' }, 'the second serves')
  t.ok(a.seen.some((l) => /^info: takeover: listener http drained/.test(l)), 'the first logged its drain to its own log')
  await new Promise((resolve) => first.close(resolve))
  await new Promise((resolve) => second.close(resolve))
  t.notOk(fs.existsSync(control), 'no control socket left')
})
