// `npm run demo`: the sibling restarts live (s + Enter, SIGUSR2, the page's
// sibling button): each time a new sibling takes the socket and the
// WebSocket over, the page is told the new pid, and the WebSocket never
// closes; run.js logs each restart with the report's counts.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, exitsWith, node, request, wsClient } from '../examples/helpers.js'

t.test('demo: live sibling restarts keep the WebSocket open, then Ctrl-C cleans up', async (t) => {
  checkFdLeaks(t)
  const proc = node(t, 'examples/demo/run.js', ['--port', '0'], { DEMO_TICK_MS: '100' })
  const [, url] = await proc.waitFor(/^\[run\] ready: (http:\/\/\S+)$/)
  const [, firstSibling] = await proc.waitFor(/^ {2}sibling {2}pid (\d+): .* on (\S+)$/)
  const [, dir] = await proc.waitFor(/receives handoffs on (\S+)\/chat\.sock$/)
  const base = url.replace(/\/$/, '')
  const res = await request(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tester' }) })
  const cookie = String(res.headers['set-cookie']).split(';')[0]
  const ws = wsClient(t, `${base.replace(/^http/, 'ws')}/chat`, { cookie })
  const welcome = await ws.next((m) => m.type === 'welcome')
  t.equal(welcome.siblingPid, Number(firstSibling), 'served by the first sibling')
  const pids = [Number(firstSibling)]
  const restarts: Array<[string, () => void]> = [
    ['s + Enter', () => proc.send('s')],
    ['SIGUSR2', () => proc.kill('SIGUSR2')],
    ['the page\'s sibling button', () => ws.send({ type: 'restart-sibling' })]
  ]
  for (const [i, [how, trigger]] of restarts.entries()) {
    const mark = proc.mark
    const wsMark = ws.mark
    trigger()
    const [, from, to, moved, kept, closed] = await proc.waitFor(new RegExp(
      `^\\[run\\] sibling restart #${i + 1} done in \\d+ ms: sibling (\\d+) → (\\d+); moved (\\d+) WebSocket\\(s\\) in \\d+ ms, kept (\\S+), closed (\\d+)$`), { after: mark })
    t.equal(Number(from), pids.at(-1), `${how}: the old sibling handed over`)
    t.same([moved, kept, closed], ['1', 'none', '0'], `${how}: the report: 1 moved, none kept, none closed`)
    const note = await ws.next((m) => m.type === 'moved', wsMark)
    t.same({ conn: note.conn, from: note.fromPid, to: note.siblingPid }, { conn: welcome.conn, from: Number(from), to: Number(to) }, `${how}: the page is told the new pid`)
    const text = `after sibling restart ${i + 1}`
    const echoMark = ws.mark
    ws.send({ type: 'chat', text })
    const echo = await ws.next((m) => m.type === 'chat' && m.text === text, echoMark)
    t.same({ conn: echo.conn, siblingPid: echo.siblingPid }, { conn: welcome.conn, siblingPid: Number(to) }, `${how}: the same WebSocket talks to the new sibling`)
    pids.push(Number(to))
  }
  t.equal(ws.messages.filter((m) => m.type === 'welcome').length, 1, 'one WebSocket, never reopened')
  t.equal(ws.messages.filter((m) => m.type === 'leave').length, 0, 'no "left" was ever broadcast')
  proc.kill('SIGINT')
  const closed = await ws.closed
  t.equal(closed.code, 1001, 'closed by the last sibling only at Ctrl-C (going away)')
  await exitsWith(t, proc, 0)
  t.equal(proc.count(/./, 'stderr'), 0, 'nothing on stderr', { output: proc.text() })
  t.notOk(fs.existsSync(dir), 'the socket directory is gone')
  for (const pid of pids) t.notOk(alive(pid), `sibling ${pid} is gone`)
})
