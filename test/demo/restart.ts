// `npm run demo` without a browser: the web app authenticates /chat and hands
// it to the sibling; restarting the web app (r + Enter, SIGHUP, the page's
// restart request) leaves the handed-off WebSocket open and talking; Ctrl-C
// (SIGINT) stops every process and removes the socket directory. Restarts
// go through listener takeover: under load, none refuses a connection.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, exitsWith, getJson, node, request, wsClient, type Proc } from '../examples/helpers.js'
import { request as undiciRequest } from 'undici'
import { Agent, Loop } from '../takeover/helpers.js'

interface Demo { proc: Proc, url: string, base: string, dir: string, siblingPid: number, webappPid: number }

async function startDemo (t: Test): Promise<Demo> {
  const proc = node(t, 'examples/demo/run.js', ['--port', '0'], { DEMO_TICK_MS: '100' })
  const [, url] = await proc.waitFor(/^\[run\] ready: (http:\/\/\S+)$/)
  const [, sibling] = await proc.waitFor(/^ {2}sibling {2}pid (\d+): .* on (\S+)$/)
  const [, dir] = (await proc.waitFor(/receives handoffs on (\S+)\/chat\.sock$/))
  const [, webapp] = await proc.waitFor(/^ {2}web app {2}pid (\d+):/)
  return { proc, url, base: url.replace(/\/$/, ''), dir, siblingPid: Number(sibling), webappPid: Number(webapp) }
}

async function login (base: string, name: string): Promise<string> {
  const res = await request(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  if (res.status !== 200) throw new Error(`login: HTTP ${res.status} ${res.body}`)
  const cookie = String(res.headers['set-cookie']).split(';')[0]
  return cookie
}

/** One chat message round trip on `ws`; resolves with the echo. */
async function roundTrip (ws: ReturnType<typeof wsClient>, text: string): Promise<any> {
  const mark = ws.mark
  ws.send({ type: 'chat', text })
  return ws.next((m) => m.type === 'chat' && m.text === text, mark)
}

t.test('demo: handoff, restarts by r + Enter, SIGHUP and the page\'s request, then Ctrl-C cleans up', async (t) => {
  checkFdLeaks(t)
  const demo = await startDemo(t)
  const ws0 = `${demo.base.replace(/^http/, 'ws')}/chat`

  const dirMode = fs.statSync(demo.dir).mode & 0o777
  t.equal(dirMode, 0o700, 'the socket lives in a private 0700 directory')
  t.ok(fs.statSync(`${demo.dir}/chat.sock`).isSocket(), 'the sibling listens there')

  // The page is public; the API and the WebSocket need the session cookie.
  const page = await request(`${demo.base}/`)
  t.equal(page.status, 200)
  t.match(page.body, /<title>fastify-handoff demo<\/title>/)
  t.equal((await request(`${demo.base}/api/whoami`)).status, 401, 'whoami without a session: 401')
  const anonymous = wsClient(t, ws0)
  await t.rejects(anonymous.opened, { message: 'Unexpected server response: 401' }, 'a WebSocket without a session is refused by the web app\'s hook')

  const cookie = await login(demo.base, 'tester')
  const me = await getJson(`${demo.base}/api/whoami`, { cookie })
  t.match(me, { user: 'tester', pid: demo.webappPid, generation: 1 })

  const ws = wsClient(t, ws0, { cookie })
  await ws.opened
  const welcome = await ws.next((m) => m.type === 'welcome')
  t.match(welcome, { user: 'tester', webappPid: demo.webappPid, siblingPid: demo.siblingPid }, 'the sibling serves it and names the web app that accepted it')
  t.not(welcome.webappPid, welcome.siblingPid, 'two different processes')
  const echo = await roundTrip(ws, 'hello')
  t.equal(echo.siblingPid, demo.siblingPid, 'the chat message came back from the sibling')

  const pids = [demo.webappPid]
  const restarts: Array<[string, () => Promise<void>]> = [
    ['r + Enter', async () => demo.proc.send('r')],
    ['SIGHUP', async () => demo.proc.kill('SIGHUP')],
    ['the page\'s restart request', async () => {
      const res = await request(`${demo.base}/api/restart`, { method: 'POST', headers: { cookie } })
      t.equal(res.status, 200, 'POST /api/restart answered by the old web app')
    }]
  ]
  for (const [i, [how, trigger]] of restarts.entries()) {
    const mark = demo.proc.mark
    await trigger()
    const [, from, to] = await demo.proc.waitFor(new RegExp(`^\\[run\\] restart #${i + 1} done in \\d+ ms: web app (\\d+) → (\\d+) `), { after: mark })
    t.equal(Number(from), pids.at(-1), `${how}: the old web app stopped`)
    const now = await getJson(`${demo.base}/api/whoami`, { cookie })
    t.equal(now.pid, Number(to), `${how}: a new web app answers on the same port`)
    t.equal(now.generation, i + 2)
    t.notOk(pids.includes(now.pid), 'a new process')
    pids.push(now.pid)
    const ticks = ws.mark
    await ws.next((m) => m.type === 'tick', ticks)
    const after = await roundTrip(ws, `after restart ${i + 1}`)
    t.equal(after.conn, welcome.conn, `${how}: the same WebSocket still carries messages`)
  }
  t.equal(ws.messages.filter((m) => m.type === 'welcome').length, 1, 'one WebSocket, never reopened')

  // A new WebSocket goes through the new web app.
  const ws2 = wsClient(t, ws0, { cookie })
  const welcome2 = await ws2.next((m) => m.type === 'welcome')
  t.equal(welcome2.webappPid, pids.at(-1), 'a new WebSocket was accepted by the current web app')
  t.equal(welcome2.siblingPid, demo.siblingPid)

  // Ctrl-C: the sibling says goodbye on the WebSockets, every process exits, nothing is left.
  demo.proc.kill('SIGINT')
  const [closed, closed2] = await Promise.all([ws.closed, ws2.closed])
  t.equal(closed.code, 1001, 'the WebSocket was closed by the sibling (going away)')
  t.equal(closed2.code, 1001)
  await exitsWith(t, demo.proc, 0)
  t.equal(demo.proc.count(/./, 'stderr'), 0, 'nothing on stderr', { output: demo.proc.text() })
  t.notOk(fs.existsSync(demo.dir), 'the socket directory is gone')
  for (const pid of [demo.siblingPid, ...pids]) t.notOk(alive(pid), `process ${pid} is gone`)
})

t.test('demo: 5 SIGHUP restarts under load refuse no connection (listener takeover)', async (t) => {
  checkFdLeaks(t)
  const demo = await startDemo(t)
  const cookie = await login(demo.base, 'loader')
  // New connections, one request each, and keep-alive ones (undici), all the
  // way through the restarts; the page's own poll (/api/whoami) included.
  const agent = new Agent({ connections: 2 })
  t.teardown(() => agent.destroy().catch(() => {}))
  const perRequest = new Loop(async () => {
    const res = await request(`${demo.base}/favicon.ico`)
    if (res.status !== 204) throw new Error(`HTTP ${res.status}`)
    return 0
  })
  const keptAlive = new Loop(async () => {
    const res = await undiciRequest(`${demo.base}/api/whoami`, { dispatcher: agent, headers: { cookie } })
    const body = await res.body.json() as { pid: number, generation: number }
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
    return body.pid
  })
  await Promise.all([perRequest.progress(5), keptAlive.progress(5)])
  const pids = [demo.webappPid]
  for (let i = 1; i <= 5; i++) {
    const mark = demo.proc.mark
    demo.proc.kill('SIGHUP')
    const [, from, to] = await demo.proc.waitFor(new RegExp(`^\\[run\\] restart #${i} done in \\d+ ms: web app (\\d+) → (\\d+) `), { after: mark })
    t.equal(Number(from), pids.at(-1), `restart ${i}: from the running web app`)
    pids.push(Number(to))
    await Promise.all([perRequest.progress(5), keptAlive.progress(5)])
  }
  const [a, b] = [await perRequest.stop(), await keptAlive.stop()]
  t.comment(`over 5 restarts: ${a.ok + a.failed} connection-per-request requests, ${a.failed} failed; ${b.ok + b.failed} keep-alive requests, ${b.failed} failed`)
  t.equal(a.failed, 0, `connection per request: ${a.ok} answered, none refused or failed`, { errors: a.errors })
  t.equal(b.failed, 0, `keep-alive: ${b.ok} answered, none failed`, { errors: b.errors })
  t.ok(pids.filter((pid) => b.pids.has(pid)).length >= 2, 'answered by several generations')
  await agent.close()
  demo.proc.kill('SIGINT')
  await exitsWith(t, demo.proc, 0)
  t.equal(demo.proc.count(/./, 'stderr'), 0, 'nothing on stderr', { output: demo.proc.text() })
  for (const pid of pids) t.notOk(alive(pid), `web app ${pid} is gone`)
})
