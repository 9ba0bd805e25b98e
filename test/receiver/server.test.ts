// A handed-off connection is one of the receiving server's own: it counts in
// server.getConnections() (which server.close() waits on), its inactivity timeout (server.timeout) and its connection limit
// (server.maxConnections, a REJECT "capacity" instead of a dropped
// connection) apply to it. The web app hands off with the library's own
// sender (test/fixtures/receiver-webapp.js).
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { WsClient, rawClient, startPair, stopChild } from './helpers.js'

t.test('server.timeout closes a handed-off connection whose request is never answered', async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp } = await startPair(t, 'ws', { serverTimeout: 200 })
  const client = rawClient(webapp.port)
  client.socket.write('GET /sse/hang HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(await webapp.event('result'), { outcome: 'accepted', handedOff: true }, 'handed off')
  // Nothing else ends it: the sibling's handler never answers and the client waits.
  t.equal((await client.ended).length, 0, 'closed by the sibling\'s server timeout, with nothing written')
  await client.closed
  await receiver.request('idle')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})

t.test('server.maxConnections: a handoff beyond it is REJECTed "capacity", the web app answers 503', async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp } = await startPair(t, 'ws', { serverMaxConnections: 1 })
  const a = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await a.opened
  t.equal(JSON.parse(await a.next()).pid, receiver.pid, 'the first one is served by the sibling')
  const b = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await t.rejects(b.opened, /unexpected response 503/, 'the second gets the web app\'s 503')
  await b.closed
  const refusal = (await receiver.event('reject')).reject
  t.match(refusal, { reason: 'capacity', retryable: true, message: /server is at its maxConnections \(1\)/ })
  t.match(await webapp.event('result', (m) => m.handedOff === false), { outcome: 'rejected', reason: 'capacity' })
  a.send('still here')
  t.equal(await a.next(), 'still here', 'the first one is still served')
  a.ws.close(1000)
  await a.closed
  await receiver.request('idle')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})

t.test('server.getConnections() counts a handed-off connection until it closes', async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp } = await startPair(t, 'ws')
  t.equal((await receiver.request('connections')).count, 0)
  const ws = new WsClient(`ws://127.0.0.1:${webapp.port}/ws`)
  await ws.opened
  await ws.next()
  t.equal((await receiver.request('connections')).count, 1, 'counted like a connection the server accepted')
  ws.ws.close(1000)
  await ws.closed
  await receiver.request('idle')
  t.equal((await receiver.request('connections')).count, 0, 'and no longer once closed')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})
