// What a keep-alive client sees across a takeover: the connection it holds
// idle to the old generation is not closed under it; its next request there
// is answered (with `Connection: close`), the one after goes to the new
// generation. A request in flight at the takeover is answered by the old
// generation, also with `Connection: close`. Nothing is reset.
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import path from 'node:path'
import { request } from 'undici'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { stopChild } from '../helpers/child.js'
import { getJson } from '../examples/helpers.js'
import { Agent, startGen } from './helpers.js'

async function get (port: number, agent: Agent, url = '/gen'): Promise<{ pid: number, connection: string | undefined }> {
  const res = await request(`http://127.0.0.1:${port}${url}`, { dispatcher: agent })
  const body = await res.body.json() as { pid: number }
  return { pid: body.pid, connection: res.headers.connection as string | undefined }
}

t.test('an idle keep-alive connection and a request in flight across a takeover: both answered by the old generation, then the new one serves', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-keepalive-')
  const control = path.join(dir, 'control.sock')
  const pidFile = path.join(dir, 'app.pid')
  const first = await startGen(t, { control, pidFile }, 'generation 1')
  t.equal(fs.readFileSync(pidFile, 'utf8'), `${first.pid}\n`, 'the pid file names generation 1 once it is ready')
  const port = first.port
  // One connection each: every request of an agent goes over the same one.
  const idle = new Agent({ connections: 1 })
  const busy = new Agent({ connections: 1 })
  t.teardown(() => Promise.all([idle.destroy(), busy.destroy()]).catch(() => {}))

  const before = await get(port, idle)
  t.same(before, { pid: first.pid, connection: 'keep-alive' }, 'the idle agent\'s connection is kept alive by generation 1')
  // In flight across the takeover: /hold is answered once generation 1 handed over.
  const held = get(port, busy, '/hold')

  const second = await startGen(t, { control, port, pidFile }, 'generation 2')
  t.equal(fs.readFileSync(pidFile, 'utf8'), `${second.pid}\n`, 'then generation 2 (systemd\'s PIDFile= follows it)')
  await first.child.event('handover')
  t.same(await held, { pid: first.pid, connection: 'close' }, 'the request in flight was answered by generation 1, with Connection: close')
  t.equal(first.child.seen('retired').length, 0, 'generation 1 waits for the idle connection: it does not close it under the client')

  const again = await get(port, idle)
  t.same(again, { pid: first.pid, connection: 'close' }, 'the next request on the idle connection is answered by generation 1, with Connection: close')
  t.equal((await first.child.event('retired')).forced, 0, 'generation 1 drained: its last connection ended with that response')
  t.same(await first.child.exited, { code: 0, signal: null })

  const after = await get(port, idle)
  t.same(after, { pid: second.pid, connection: 'keep-alive' }, 'the agent\'s next connection goes to generation 2')
  t.same(await get(port, busy), { pid: second.pid, connection: 'keep-alive' })
  await Promise.all([idle.close(), busy.close()])
  await stopChild(t, second.child, 'close')
})

t.test('drainTimeout bounds how long a retiring generation waits: a connection that neither asks nor closes is closed then, and counted', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-drain-')
  const control = path.join(dir, 'control.sock')
  const first = await startGen(t, { control, drainTimeout: 500 }, 'generation 1')
  // A client that connects and never sends a request.
  const silent = net.connect(first.port, '127.0.0.1')
  t.teardown(() => { silent.destroy() })
  await once(silent, 'connect')
  // Generation 1 has accepted it once it answers a request made after it (one accept queue, in order).
  await getJson(`http://127.0.0.1:${first.port}/gen`)
  const second = await startGen(t, { control, port: first.port }, 'generation 2')
  const closed = once(silent, 'close')
  t.equal((await first.child.event('retired')).forced, 1, 'one connection was still open at drainTimeout: closed, counted')
  t.match((await first.child.event('log', (m) => m.level === 'warn')).msg, /1 connection\(s\) still open after 500 ms were closed/)
  await closed
  t.same(await first.child.exited, { code: 0, signal: null })
  await stopChild(t, second.child, 'close')
})
