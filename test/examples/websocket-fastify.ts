// examples/websocket-fastify: a Fastify web app authenticates a WebSocket
// upgrade and hands it to an unmodified @fastify/websocket sibling.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, exitsWith, node, wsClient } from './helpers.js'

t.test('websocket-fastify: 401 without a token, echo from the sibling with one, Ctrl-C stops both', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/websocket-fastify/web.js', ['--port', '0'])
  const [, siblingPid, socketPath] = await web.waitFor(/^\[sibling (\d+)\] serving \/echo for handoffs on (\S+)$/)
  const [, webPid, url] = await web.waitFor(/^\[web (\d+)\] listening on (ws:\/\/\S+) /)

  const anonymous = wsClient(t, url)
  await t.rejects(anonymous.opened, { message: 'Unexpected server response: 401' }, 'the web app\'s hook refuses a WebSocket without a token')

  const ws = wsClient(t, url, { authorization: 'Bearer let-me-in' })
  await ws.opened
  const hello = await ws.next((m) => m.hello !== undefined)
  t.same(hello, { hello: 'alice', pid: Number(siblingPid) }, 'the sibling greets the user the web app authenticated')
  t.not(hello.pid, Number(webPid), 'served by another process than the web app')
  ws.send('ping')
  const echo = await ws.next((m) => m.echo !== undefined)
  t.same(echo, { echo: '"ping"', pid: Number(siblingPid) }, 'messages round-trip through the sibling')

  web.kill('SIGINT')
  const closed = await ws.closed
  t.equal(closed.code, 1001, 'the sibling closed the WebSocket on its way out')
  await exitsWith(t, web, 0)
  t.equal(web.count(/./, 'stderr'), 0, 'nothing on stderr', { output: web.text() })
  t.notOk(fs.existsSync(socketPath), 'the socket file is gone')
  t.notOk(alive(Number(siblingPid)), 'the sibling exited')
})
