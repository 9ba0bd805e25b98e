// examples/pm2 under the real pm2 (a system prerequisite like haproxy:
// .ci/run installs it globally; it is no dependency of the package). With
// WebSockets open and requests arriving, `pm2 reload` of the ecosystem file
// restarts the web app's workers and the sibling: no WebSocket closes, each
// moves to the new sibling with its state, no connection is refused.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { alive, command, exitsWith, freePort, request, waitExit, within, wsClient, type WsClient } from './helpers.js'

const ECOSYSTEM = 'examples/pm2/ecosystem.config.js'
const CLIENTS = 3
/** Bounds of the request loop during the reload: rounds, time, and the pause between two. */
const LOAD_ROUNDS = 6000
const LOAD_LIMIT_MS = 120000
const LOAD_PACE_MS = 10

t.setTimeout(240000)

t.test('pm2 reload of the web app and the sibling: no WebSocket closes, each moves with its state, nothing is refused', {
  // Found on PATH, not run: any pm2 command starts a daemon in ~/.pm2.
  skip: prerequisite(t, { name: 'pm2', available: hasCommand('sh', ['-c', 'command -v pm2']), install: 'npm install -g pm2' })
}, async (t) => {
  checkFdLeaks(t)
  // pm2's daemon and its files in a directory of their own: no ~/.pm2, no other pm2 touched.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-pm2-home-'))
  const env = { PM2_HOME: home, HANDOFF_DIR: path.join(home, 'sock'), PORT: String(await freePort()) }
  const pm2 = async (what: string, ...args: string[]): Promise<void> => {
    const proc = command(t, `pm2 ${what}`, 'pm2', args, env)
    await within(`pm2 ${what}`, exitsWith(t, proc, 0), 90000)
  }
  const pids: number[] = []
  t.teardown(async () => {
    const kill = command(t, 'pm2 kill', 'pm2', ['kill'], env)
    await kill.closed
    for (const pid of pids) await within(`exit of ${pid}`, waitExit(pid))
    fs.rmSync(home, { recursive: true, force: true })
  })
  const base = `127.0.0.1:${env.PORT}`

  await pm2('start', 'start', ECOSYSTEM)
  // `pm2 start` returns once its workers said 'ready' (wait_ready): the web app serves.
  const health = await request(`http://${base}/health`)
  t.equal(health.status, 200, 'the web app answers and its sibling takes handoffs', { body: health.body })

  const clients: WsClient[] = []
  for (let i = 0; i < CLIENTS; i++) clients.push(wsClient(t, `ws://${base}/chat`))
  const welcomes = await within('welcomes', Promise.all(clients.map((c) => c.next((m) => m.welcome === true))))
  const oldSibling = welcomes[0].pid as number
  pids.push(oldSibling, ...welcomes.map((w) => w.webPid as number))
  for (const c of clients) c.ws.send('a')
  await within('first echoes', Promise.all(clients.map((c) => c.next((m) => m.n === 1))))

  // Requests on new connections throughout the reload, each waited for in turn.
  const statuses: Record<string, number> = {}
  const failed: string[] = []
  const state = { stopping: false }
  const deadline = Date.now() + LOAD_LIMIT_MS
  const load = (async () => {
    for (let i = 0; i < LOAD_ROUNDS && !state.stopping && Date.now() < deadline; i++) {
      try {
        const res = await within('GET /health', request(`http://${base}/health`))
        statuses[res.status] = (statuses[res.status] ?? 0) + 1
      } catch (err) {
        failed.push((err as Error).message)
      }
      // Pacing, not synchronisation: a trickle of requests over the whole reload.
      await new Promise((resolve) => setTimeout(resolve, LOAD_PACE_MS))
    }
    if (!state.stopping) failed.push('the request loop reached its bound before the reload ended')
  })()
  try {
    // It returns once the old processes are gone: the old sibling exits only once its WebSockets moved.
    await pm2('reload', 'reload', ECOSYSTEM)
  } finally {
    state.stopping = true
    await load
  }
  t.same(failed, [], `no request failed or was refused during the reload (${JSON.stringify(statuses)})`)
  t.ok((statuses[200] ?? 0) > 0, 'requests were answered during the reload')
  // Not even a 503 from /health while the web app reconnects to the new
  // sibling: handoffs wait for it then, so it counts as healthy (no probe flaps).
  t.same(Object.keys(statuses).filter((s) => s !== '200'), [], 'every answer was 200: healthy throughout')

  for (const c of clients) c.ws.send('b')
  const after = await within('echoes after the reload', Promise.all(clients.map((c) => c.next((m) => m.n === 2))))
  const newSibling = after[0].pid as number
  pids.push(newSibling)
  t.not(newSibling, oldSibling, 'a new sibling answers')
  t.same(after.map((m) => m.pid), clients.map(() => newSibling), 'every WebSocket moved to it, with its count')
  t.same(clients.filter((c) => c.ws.readyState !== WebSocket.OPEN).length, 0, 'no WebSocket closed')
  const fresh = wsClient(t, `ws://${base}/chat`)
  const welcome = await within('a new WebSocket\'s welcome', fresh.next((m) => m.welcome === true))
  pids.push(welcome.webPid)
  t.notOk(welcomes.some((w) => w.webPid === welcome.webPid), 'a new web app worker handed it off')
  t.equal(welcome.pid, newSibling, 'to the new sibling')
  await fresh.stop()
  await within(`exit of the old sibling ${oldSibling}`, waitExit(oldSibling))
  t.notOk(alive(oldSibling), 'the old sibling exited')

  // The moved descriptors are the new sibling's own: it closes each when its client goes.
  const open = openFds(newSibling).length
  for (const c of clients) await c.stop()
  t.equal(await fdsBackTo(newSibling, open - CLIENTS), open - CLIENTS, 'the new sibling released the descriptors of its closed clients')
})
