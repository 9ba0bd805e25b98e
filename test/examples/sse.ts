// examples/sse: a Fastify route authenticates the request, reply.handoff()
// passes the connection to a node:http sibling that streams the events; the
// client is curl -N.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, command, exitsWith, node, request } from './helpers.js'

t.test('sse: curl -N gets the stream from the sibling; 401 without a token; Ctrl-C stops both', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/sse/web.js', ['--port', '0'], { TICK_MS: '50' })
  const [, siblingPid, socketPath] = await web.waitFor(/^\[sibling (\d+)\] streaming \/events for handoffs on (\S+)$/)
  const [, webPid, port] = await web.waitFor(/^\[web (\d+)\] try: curl -N 'http:\/\/127\.0\.0\.1:(\d+)\/events/)
  const base = `http://127.0.0.1:${port}`

  const refused = await request(`${base}/events`)
  t.equal(refused.status, 401, 'no token: the web app answers 401 itself')

  // A finite stream: curl exits 0 once the sibling ends the response.
  const curl = command(t, 'curl', 'curl', ['-N', '-s', '-S', '--max-time', '20', `${base}/events?token=let-me-in&count=3`])
  await exitsWith(t, curl, 0)
  const out = curl.lines.map((l) => l.text)
  t.equal(out[0], 'event: hello')
  t.same(JSON.parse(out[1].replace(/^data: /, '')), { user: 'alice', webPid: Number(webPid), pid: Number(siblingPid) },
    'the sibling streams, with the context the web app attached')
  const ticks = out.filter((l) => /^data: \{"n":/.test(l)).map((l) => JSON.parse(l.slice(6)))
  t.same(ticks.map((e) => [e.n, e.pid]), [[1, Number(siblingPid)], [2, Number(siblingPid)], [3, Number(siblingPid)]], 'three events, all from the sibling')

  // An endless stream: events keep coming until the demo stops; then the sibling ends it.
  const endless = command(t, 'curl endless', 'curl', ['-N', '-s', '-S', '--max-time', '20', `${base}/events?token=let-me-in`])
  await endless.waitFor(/^data: \{"n":3,/)
  web.kill('SIGINT')
  await exitsWith(t, endless, 0)
  await exitsWith(t, web, 0)
  t.equal(web.count(/./, 'stderr'), 0, 'nothing on stderr', { output: web.text() })
  t.notOk(fs.existsSync(socketPath), 'the socket file is gone')
  t.notOk(alive(Number(siblingPid)), 'the sibling exited')
})
