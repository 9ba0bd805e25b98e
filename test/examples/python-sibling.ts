// examples/python-sibling: the receiver is a Python program (stdlib only)
// written from PROTOCOL.md; it answers the request on the descriptor the
// Fastify web app handed it.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, exitsWith, node, request, waitExit } from './helpers.js'

t.test('python-sibling: the request is answered by Python with the web app\'s context', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/python-sibling/web.js', ['--port', '0'])
  const [, pyPid, socketPath] = await web.waitFor(/^\[py-sibling (\d+)\] listening on (\S+)$/)
  const [, webPid, port] = await web.waitFor(/^\[web (\d+)\] try: .* http:\/\/127\.0\.0\.1:(\d+)\/hello$/)
  t.equal(fs.statSync(socketPath).mode & 0o777, 0o600, 'the socket file is 0600')
  const base = `http://127.0.0.1:${port}`

  t.equal((await request(`${base}/hello`)).status, 401, 'no token: 401 from the web app')
  for (const i of [1, 2, 3]) {
    const res = await request(`${base}/hello?n=${i}`, { headers: { authorization: 'Bearer let-me-in' } })
    t.equal(res.status, 200)
    const body = JSON.parse(res.body)
    t.match(body, { from: 'python', pid: Number(pyPid), method: 'GET', path: `/hello?n=${i}`, context: { user: 'alice', webPid: Number(webPid) } },
      `request ${i} answered by the Python sibling`)
  }
  await web.waitFor(/^\[py-sibling \d+\] served GET \/hello\?n=3 /)

  web.kill('SIGINT')
  await exitsWith(t, web, 0)
  await web.waitFor(/^\[py-sibling \d+\] stopping \(SIGTERM\); served 3 request\(s\)$/)
  t.equal(web.count(/./, 'stderr'), 0, 'nothing on stderr', { output: web.text() })
  t.notOk(fs.existsSync(socketPath), 'the socket file is gone')
  t.notOk(alive(Number(pyPid)), 'the Python sibling exited')
})

t.test('python-sibling: when the web app is killed outright, sibling.py stops on its own (end of stdin)', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/python-sibling/web.js', ['--port', '0'])
  const [, pyPid, socketPath] = await web.waitFor(/^\[py-sibling (\d+)\] listening on (\S+)$/)
  await web.waitFor(/^\[web \d+\] try: /)
  web.kill('SIGKILL')
  await web.closed
  await waitExit(Number(pyPid)) // hangs (and the test times out) if sibling.py stays
  t.notOk(alive(Number(pyPid)), 'the Python sibling exited')
  t.notOk(fs.existsSync(socketPath), 'and removed its socket file')
  fs.rmSync(socketPath.replace(/\/[^/]+$/, ''), { recursive: true, force: true })
})
