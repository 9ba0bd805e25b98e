// examples/express: an Express web app hands a WebSocket route and an SSE
// route to a node:http + ws sibling, after its auth middleware.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, command, exitsWith, getJson, node, request, wsClient } from './helpers.js'

t.test('express: auth middleware first, then WebSocket and SSE served by the sibling; Ctrl-C stops both', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/express/web.js', ['--port', '0'])
  const [, siblingPid, socketPath] = await web.waitFor(/^\[sibling (\d+)\] serving \/chat and \/events for handoffs on (\S+)$/)
  const [, webPid, port] = await web.waitFor(/^\[web (\d+)\] ws:\/\/127\.0\.0\.1:(\d+)\/chat /)
  const base = `http://127.0.0.1:${port}`
  const auth = { authorization: 'Bearer let-me-in' }

  t.same(await getJson(`${base}/`, auth), { user: 'alice', pid: Number(webPid) }, 'ordinary routes are served by the web app')
  t.equal((await request(`${base}/events`)).status, 401, 'SSE without a token: 401 from the middleware')
  const anonymous = wsClient(t, `ws://127.0.0.1:${port}/chat`)
  await t.rejects(anonymous.opened, { message: 'Unexpected server response: 401' }, 'WebSocket without a token: 401 from the middleware')

  const ws = wsClient(t, `ws://127.0.0.1:${port}/chat`, auth)
  t.same(await ws.next((m) => m.hello !== undefined), { hello: 'alice', pid: Number(siblingPid) }, 'the sibling greets the user')
  ws.send({ hi: 1 })
  t.same(await ws.next((m) => m.echo !== undefined), { echo: '{"hi":1}', pid: Number(siblingPid) })

  const curl = command(t, 'curl', 'curl', ['-N', '-s', '-S', '--max-time', '20', `${base}/events?token=let-me-in&count=3`])
  await exitsWith(t, curl, 0)
  const events = curl.lines.filter((l) => l.text.startsWith('data: ')).map((l) => JSON.parse(l.text.slice(6)))
  t.same(events, [1, 2, 3].map((n) => ({ n, user: 'alice', pid: Number(siblingPid) })), 'three events from the sibling')

  web.kill('SIGINT')
  t.equal((await ws.closed).code, 1001, 'the sibling closed the WebSocket on its way out')
  await exitsWith(t, web, 0)
  t.equal(web.count(/./, 'stderr'), 0, 'nothing on stderr', { output: web.text() })
  t.notOk(fs.existsSync(socketPath), 'the socket file is gone')
  t.notOk(alive(Number(siblingPid)), 'the sibling exited')
})
