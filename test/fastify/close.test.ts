// app.close() in the web app returns promptly while the connections it handed
// off live on in the sibling: here the web app is a process of its own, which
// closes and exits while its client's WebSocket keeps talking to the sibling.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { KeepAliveClient, WsClient, forkFixture, sseEvents, startSibling, stopChild, tmpDir } from '../sender/helpers.js'

t.test('the web app closes and exits; the handed-off WebSocket and keep-alive connection live on', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const siblingFds = sibling.fds()
  const webapp = forkFixture(t, 'webapp-fastify.js', { path: sockPath }, 'webapp')
  const { port, pid: webappPid } = await webapp.event('listening')

  const ws = new WsClient(`ws://127.0.0.1:${port}/ws`)
  await ws.opened
  const hello = await ws.nextJson()
  t.equal(hello.pid, sibling.pid)
  t.same(hello.info.context, { user: 'dave', webapp: webappPid })
  const http = new KeepAliveClient(port)
  await http.raw.connected
  const sse = await http.get('/sse?keep')
  t.equal(JSON.parse(sseEvents(sse.body)[0]).pid, sibling.pid, 'SSE from the sibling')

  const { health, connections } = await webapp.request('health')
  t.equal(health.chat.healthy, true)
  t.equal(connections, 0, 'the web app\'s server no longer counts the handed-off connections')

  // No bound on how long it took: if the handed-off connections still
  // counted, app.close() would wait for them, and they stay open until
  // after this reply (the wait for it would fail, saying so).
  await webapp.request('close')
  t.pass('app.close() returned while the handed-off WebSocket and keep-alive connection are open')
  const exit = await webapp.exited
  t.same(exit, { code: 0, signal: null }, 'the web app process exited on its own')

  for (let i = 0; i < 3; i++) {
    ws.send(`still here ${i}`)
    t.equal(await ws.next(), `still here ${i}`, 'the WebSocket lives on in the sibling')
  }
  const next = await http.get('/plain')
  t.equal(JSON.parse(next.body).pid, sibling.pid, 'so does the keep-alive connection (laterRequests: \'sibling\')')

  ws.send('close:1000:bye')
  t.same(await ws.closed, { code: 1000, reason: 'bye' })
  await http.close()
  await sibling.request('idle')
  await sibling.event('peerClose')
  t.equal(sibling.fds(), siblingFds, 'no descriptor left in the sibling (its sender channel closed with the web app)')
  await stopChild(t, sibling)
})
