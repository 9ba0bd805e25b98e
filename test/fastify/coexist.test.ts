// Side by side with @fastify/websocket: its routes serve WebSockets here, the
// handoff routes move; exactly one 'upgrade' listener routes each upgrade (the
// app's hooks run once per request), whatever the registration order.
import t, { type Test } from 'tap'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  WsClient, clientFrame, rawClient, serverFrames, startSibling, stopChild, tmpDir, upgradeRequest, type Child
} from '../sender/helpers.js'

async function setup (t: Test, order: 'websocket-first' | 'handoff-first'): Promise<{ app: FastifyInstance, port: number, sibling: Child, seen: string[] }> {
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath })
  const app = Fastify()
  const handoffOptions = { targets: { chat: sockPath, down: path.join(dir, 'nobody.sock') } }
  if (order === 'websocket-first') {
    await app.register(websocket)
    await app.register(fastifyHandoff, handoffOptions)
  } else {
    await app.register(fastifyHandoff, handoffOptions)
    await app.register(websocket)
  }
  const seen: string[] = []
  app.addHook('onRequest', async (request) => {
    seen.push(request.url)
    request.handoffContext = { via: order }
  })
  app.get('/local', { websocket: true }, (socket) => {
    socket.send(JSON.stringify({ pid: process.pid, local: true }))
    socket.on('message', (data) => socket.send(`local:${data.toString()}`))
  })
  app.get('/ws', { handoff: 'chat' }, async () => ({ local: true }))
  // Its receiver is down: the 'local' fallback lets @fastify/websocket serve it here.
  app.get('/ws-or-local', { websocket: true, handoff: { target: 'down', fallback: 'local' } }, (socket) => {
    socket.send(JSON.stringify({ pid: process.pid, fallback: true }))
    socket.on('message', (data) => socket.send(`local:${data.toString()}`))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  await app.handoff.ready('chat')
  return { app, port: (app.server.address() as { port: number }).port, sibling, seen }
}

for (const order of ['websocket-first', 'handoff-first'] as const) {
  t.test(`${order}: local WebSocket routes stay, handoff routes move, one listener, hooks once`, async (t) => {
    checkFdLeaks(t)
    const { app, port, sibling, seen } = await setup(t, order)
    t.equal(app.server.listenerCount('upgrade'), 1, 'exactly one upgrade listener')

    const local = new WsClient(`ws://127.0.0.1:${port}/local`)
    await local.opened
    t.same(await local.nextJson(), { pid: process.pid, local: true }, '@fastify/websocket\'s route is served here')
    local.send('a')
    t.equal(await local.next(), 'local:a')

    const moved = new WsClient(`ws://127.0.0.1:${port}/ws`)
    await moved.opened
    const hello = await moved.nextJson()
    t.equal(hello.pid, sibling.pid, 'the handoff route is served by the sibling')
    t.same(hello.info.context, { via: order })
    moved.send('b')
    t.equal(await moved.next(), 'b')

    const fallback = new WsClient(`ws://127.0.0.1:${port}/ws-or-local`)
    await fallback.opened
    t.same(await fallback.nextJson(), { pid: process.pid, fallback: true }, 'receiver down: the route\'s own handler served it here')
    fallback.send('c')
    t.equal(await fallback.next(), 'local:c')

    // Frames in the upgrade packet, through @fastify/websocket's listener.
    const raw = rawClient(port)
    await raw.connected
    raw.socket.write(Buffer.concat([Buffer.from(upgradeRequest('/ws', port).text), clientFrame(1, 'early')]))
    const data = await raw.waitFor((d) => serverFrames(d).length >= 2)
    t.equal(JSON.parse(serverFrames(data)[0].payload.toString()).pid, sibling.pid)
    t.equal(serverFrames(data)[1].payload.toString(), 'early', 'the bytes after the head travelled too')

    t.same(seen, ['/local', '/ws', '/ws-or-local', '/ws'], 'each upgrade went through the app\'s hooks exactly once')
    for (const client of [local, moved, fallback]) client.ws.close()
    raw.socket.destroy()
    await Promise.all([local.closed, moved.closed, fallback.closed, raw.closed])
    await sibling.request('idle')
    await app.close()
    await stopChild(t, sibling)
  })
}
