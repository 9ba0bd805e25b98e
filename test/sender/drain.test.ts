// A receiver that drains (GOODBYE) stops getting handoffs: the pool sends the
// next ones to the other receiver, the draining one keeps serving what it has,
// and the sender's reconnect attempts back off instead of spinning.
import t from 'tap'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { Sender } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { WsClient, startSibling, stopChild, tmpDir } from './helpers.js'

t.test('GOODBYE from a draining receiver: new handoffs go to the rest of the pool; its connections live on', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const paths = [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]
  const [a, b] = await Promise.all(paths.map((p) => startSibling(t, { path: p })))
  const sender = new Sender({ targets: { ws: { path: paths, reconnect: { min: 20, max: 400 } } } })
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void sender.handoffUpgrade(req, socket, head, { target: 'ws' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as { port: number }).port
  const [linkA, linkB] = sender.target('ws').links
  await Promise.all([linkA, linkB].map((link) => new Promise<void>((resolve) => {
    if (link.usable) resolve()
    else link.once('ready', () => resolve())
  })))

  const open = async (): Promise<{ client: WsClient, pid: number }> => {
    const client = new WsClient(`ws://127.0.0.1:${port}/ws`)
    await client.opened
    return { client, pid: (await client.nextJson()).pid }
  }
  const first = await open()
  t.equal(first.pid, a.pid, 'round robin starts with A')

  const draining = new Promise<void>((resolve) => {
    const check = (): void => { if (linkA.load.draining) { linkA.removeListener('load', check); resolve() } }
    linkA.on('load', check)
  })
  const drained = a.request('drain') // answers once A has no connection left
  await draining
  t.equal(linkA.usable, false, 'A no longer takes handoffs')
  const next = await Promise.all([open(), open(), open()])
  t.same(next.map((n) => n.pid), [b.pid, b.pid, b.pid], 'every new handoff goes to B')
  first.client.send('A still serves me')
  t.equal(await first.client.next(), 'A still serves me', 'the connection A had lives on')
  t.ok(linkA.health().failures >= 1, 'the GOODBYE counts toward the reconnect backoff')

  for (const c of [first, ...next]) c.client.ws.close()
  await Promise.all([first, ...next].map((c) => c.client.closed))
  await drained
  await b.request('idle')
  await sender.close()
  await stopChild(t, a)
  await stopChild(t, b)
})
