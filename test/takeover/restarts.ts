// Five consecutive web-app restarts by listener takeover, under load: new
// connections (one per request), keep-alive requests (an undici Agent) and
// new WebSocket handoffs to a sibling all go on while the generations change.
// Nothing may fail, be refused or reset; every handed-off WebSocket stays
// open; every generation listens on the same socket (same inode).
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { forkFixture, stopChild } from '../helpers/child.js'
import type { WsClient } from '../examples/helpers.js'
import { Agent, Loop, keepAlive, listeningInode, perConnection, socketInodes, startGen, wsHandoffs, type Gen } from './helpers.js'

const RESTARTS = 5

t.test('5 restarts under load: zero failed, zero refused, zero reset; the same listening socket throughout', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-')
  const control = path.join(dir, 'control.sock')
  const siblingPath = path.join(dir, 'sibling.sock')
  const sibling = forkFixture('receiver-ws.js', { path: siblingPath }, 'sibling', t)
  await sibling.event('ready')

  let current: Gen = await startGen(t, { control, sibling: siblingPath }, 'generation 1')
  t.equal(current.source, 'bind', 'the first generation binds the port')
  t.equal(current.generation, 1)
  const port = current.port
  const inode = listeningInode(port)
  t.ok(socketInodes(current.pid).includes(inode), 'generation 1 holds the listening socket')
  const genFds = openFds(current.pid).length
  // The sibling with one web app's channel, before any handoff.
  const siblingFdsBefore = openFds(sibling.pid).length

  const agent = new Agent({ connections: 4, pipelining: 1 })
  t.teardown(() => agent.destroy().catch(() => {}))
  const kept: WsClient[] = []
  t.teardown(() => Promise.all(kept.map((ws) => ws.stop())))
  const loops = {
    'connection per request': new Loop(perConnection(port)),
    'keep-alive (undici Agent)': new Loop(keepAlive(port, agent)),
    'new WebSocket handoffs': new Loop(wsHandoffs(port, kept), 1000)
  }
  await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))

  const pids = [current.pid]
  for (let i = 1; i <= RESTARTS; i++) {
    const old = current
    current = await startGen(t, { control, sibling: siblingPath, port }, `generation ${i + 1}`)
    t.equal(current.source, 'takeover', `restart ${i}: the new generation took the listener over`)
    t.equal(current.generation, i + 1, `restart ${i}: generation number ${i + 1}`)
    t.equal(listeningInode(port), inode, `restart ${i}: the same listening socket (inode ${inode})`)
    t.ok(socketInodes(current.pid).includes(inode), `restart ${i}: the new generation holds that very socket`)
    const retired = await old.child.event('retired')
    t.equal(retired.forced, 0, `restart ${i}: the old generation drained without closing anything by force`)
    const { code, signal } = await old.child.exited
    t.same({ code, signal }, { code: 0, signal: null }, `restart ${i}: the old generation exited on its own`)
    pids.push(current.pid)
    // Every kind of client goes on through the new generation.
    await Promise.all(Object.values(loops).map((loop) => loop.progress(5)))
  }

  const totals: Record<string, unknown> = {}
  for (const [name, loop] of Object.entries(loops)) {
    const tally = await loop.stop()
    totals[name] = { ok: tally.ok, failed: tally.failed }
    t.equal(tally.failed, 0, `${name}: ${tally.ok} succeeded, none failed`, { errors: tally.errors })
    t.ok(tally.ok > 0)
  }
  t.comment(`totals over ${RESTARTS} restarts: ${JSON.stringify(totals)}`)
  const served = loops['connection per request'].tally.pids
  t.ok(pids.filter((pid) => served.has(pid)).length >= 2, 'new connections were answered by several generations')

  // Every WebSocket handed off during the restarts is still open and talking.
  const open = kept.filter((ws) => ws.ws.readyState === ws.ws.OPEN)
  t.equal(open.length, kept.length, `all ${kept.length} handed-off WebSockets still open`)
  const echoes = await Promise.all(open.map(async (ws, i) => {
    const mark = ws.mark
    ws.ws.send(`echo ${i}`)
    return await ws.next((m) => m === `echo ${i}`, mark)
  }))
  t.equal(echoes.length, kept.length, 'each one still echoes')
  await Promise.all(kept.map((ws) => ws.stop()))
  await agent.close()

  // No descriptor left behind: the last generation is back to what the first
  // held when it started (its listener, control socket and channel), the sibling
  // to its own count once the WebSockets are gone.
  t.equal(await fdsBackTo(current.pid, genFds, 10000), genFds, 'the last generation holds as many descriptors as the first did at start')
  t.equal(await fdsBackTo(sibling.pid, siblingFdsBefore, 10000), siblingFdsBefore, 'the sibling is back to its descriptors before the first handoff (one web app\'s channel)')
  await stopChild(t, current.child, 'close')
  await stopChild(t, sibling, 'close')
})
