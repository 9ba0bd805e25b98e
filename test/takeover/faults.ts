// Rollback: a new generation that crashes before it is ready, and one that
// never reports ready, leave the running one serving as if nothing happened
// (it says why in its log); a takeover asked while another is under way waits
// for it, or gives up with a typed error after its own limit. Clients under
// load see nothing of it.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { forkFixture, stopChild } from '../helpers/child.js'
import { Agent, Loop, keepAlive, listeningInode, perConnection, socketInodes, startGen } from './helpers.js'

const READY_TIMEOUT_MS = 1500

t.test('a successor that crashes before ready, one that never reports ready, one that asks meanwhile: the running generation serves on', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-faults-')
  const control = path.join(dir, 'control.sock')
  // Generation 1 waits long for READY: its rollbacks here come from successors that go away.
  const first = await startGen(t, { control, readyTimeout: 60000 }, 'generation 1')
  const port = first.port
  const inode = listeningInode(port)
  const firstFds = openFds(first.pid).length
  const agent = new Agent({ connections: 2 })
  t.teardown(() => agent.destroy().catch(() => {}))
  const loops = { 'connection per request': new Loop(perConnection(port)), 'keep-alive': new Loop(keepAlive(port, agent)) }
  await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))

  // 1. Crashes after taking the listeners, before it listens or says READY.
  const crash = forkFixture('takeover-webapp.js', { control, fault: 'crash-before-ready' }, 'crashing generation', t)
  const claimed = await crash.event('claimed')
  t.ok(claimed.fd >= 0, 'the crashing generation was handed the listener')
  t.equal((await crash.exited).code, 3, 'and crashed')
  const crashLog = await first.child.event('log', (m) => m.level === 'warn')
  t.match(crashLog.msg, new RegExp(`rolled back, this generation \\(pid ${first.pid}\\) serves on: the new generation \\(pid ${crash.pid}\\) closed the control channel`),
    'the running generation says why it serves on')
  await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))

  // 2. While a successor hangs (generation 1 waits up to its readyTimeout),
  //    a second asks with a short limit of its own (typed error) and a third
  //    with the default one (it waits). The hanging one then dies: rollback.
  const hang = forkFixture('takeover-webapp.js', { control, fault: 'never-ready' }, 'hanging generation', t)
  await hang.event('claimed')
  const impatient = forkFixture('takeover-webapp.js', { control, port, askTimeout: 300 }, 'impatient generation', t)
  const refused = await impatient.event('failed')
  t.equal(refused.code, 'ERR_HANDOFF_TAKEOVER_BUSY', 'a second takeover with a short limit is refused with a typed error')
  t.equal((await impatient.exited).code, 1)
  const patient = forkFixture('takeover-webapp.js', { control, port, readyTimeout: READY_TIMEOUT_MS }, 'generation 2', t)
  // The patient one is up and waiting (it logs nothing until it has an OFFER).
  t.equal(first.child.seen('handover').length, 0, 'no handover so far: generation 1 kept its listeners')
  hang.kill()
  await hang.exited
  t.match((await first.child.event('log', (m) => m.level === 'warn' && m.msg.includes(String(hang.pid)))).msg,
    `the new generation (pid ${hang.pid}) closed the control channel (exited?) before it was ready`)

  // 3. The one that waited takes over once the hanging one is rolled back.
  const listening = await patient.event('listening')
  const second = { child: patient, pid: patient.pid, ...listening }
  t.equal(second.source, 'takeover')
  t.equal(second.generation, 2, 'generation 2: the failed successors did not count')
  t.equal(listeningInode(port), inode, 'the same listening socket')
  t.ok(socketInodes(second.pid).includes(inode))
  t.equal((await first.child.event('retired')).forced, 0)
  t.same(await first.child.exited, { code: 0, signal: null }, 'generation 1 exited on its own after the takeover')
  await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))

  // 4. A successor that never reports ready: rolled back at generation 2's readyTimeout.
  const stuck = forkFixture('takeover-webapp.js', { control, fault: 'never-ready' }, 'stuck generation', t)
  await stuck.event('claimed')
  const stuckLog = await second.child.event('log', (m) => m.level === 'warn' && m.msg.includes(String(stuck.pid)))
  t.equal(stuckLog.msg, `takeover rolled back, this generation (pid ${second.pid}) serves on: the new generation (pid ${stuck.pid}) did not report ready within ${READY_TIMEOUT_MS} ms`,
    'the running generation says why it serves on')
  stuck.kill()
  await stuck.exited
  await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))
  t.equal(second.child.seen('handover').length, 0, 'generation 2 kept its listeners')

  for (const [name, loop] of Object.entries(loops)) {
    const tally = await loop.stop()
    t.equal(tally.failed, 0, `${name}: ${tally.ok} succeeded, none failed`, { errors: tally.errors })
  }
  await agent.close()
  t.equal(await fdsBackTo(second.pid, firstFds, 10000), firstFds, 'generation 2 holds as many descriptors as generation 1 did at start')
  await stopChild(t, second.child, 'close')
})
