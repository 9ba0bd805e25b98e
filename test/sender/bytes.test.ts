// Not one byte lost or reordered: while the app takes its time deciding, Node
// keeps reading the upgraded socket into its buffer (FIELD-NOTES 2); the
// detach drains it, stops the handle, and the receiver gets head + buffered
// + the rest of the stream, in order. Checked against R's raw receiver, which
// echoes every byte it reads (the head first).
import t from 'tap'
import crypto from 'node:crypto'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { Sender } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { rawClient, startSibling, stopChild, tmpDir } from './helpers.js'

t.test('a slow decision with data piling up in Node\'s buffer and the kernel: the receiver echoes the exact stream', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'raw.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const sender = new Sender({ targets: { raw: sockPath } })
  let release: () => void = () => {}
  const decided = new Promise<void>((resolve) => { release = resolve })
  let bufferedAtDetach = 0
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void (async () => {
      // Wait until Node itself holds a good part of the stream, then decide.
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (socket.readableLength >= 16 * 1024) {
            socket.removeListener('readable', check)
            resolve()
          }
        }
        socket.on('readable', check)
        check()
      })
      await decided
      bufferedAtDetach = socket.readableLength + head.length
      await sender.handoffUpgrade(req, socket, head, { target: 'raw', context: { test: 'bytes' } })
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as { port: number }).port
  await sender.ready('raw')

  const client = rawClient(port)
  await client.connected
  const head = 'GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: test-stream\r\nConnection: Upgrade\r\nX-Order: first\r\nx-order: second\r\n\r\n'
  const payload = crypto.randomBytes(300 * 1024)
  // The head and the first bytes in one packet, the rest in pieces.
  client.socket.write(Buffer.concat([Buffer.from(head), payload.subarray(0, 1000)]))
  for (let offset = 1000; offset < 200 * 1024; offset += 8192) {
    client.socket.write(payload.subarray(offset, Math.min(offset + 8192, 200 * 1024)))
  }
  await new Promise<void>((resolve) => client.socket.write(Buffer.alloc(0), () => resolve()))
  release()
  // The rest once the handoff is under way or done: it must follow, in order.
  const rest = payload.subarray(200 * 1024)
  for (let offset = 0; offset < rest.length; offset += 8192) client.socket.write(rest.subarray(offset, offset + 8192))

  const expectedLength = head.length + payload.length
  const data = await client.waitFor((d) => {
    const nl = d.indexOf('\n')
    return nl >= 0 && d.length - nl - 1 >= expectedLength
  })
  const nl = data.indexOf('\n')
  const info = JSON.parse(data.subarray(0, nl).toString())
  t.equal(info.pid, sibling.pid, 'served by the sibling')
  t.same(info.context, { test: 'bytes' })
  t.equal(info.headLength, head.length, 'the head, rebuilt with the raw header names in the client\'s order, has the client\'s length')
  const echoed = data.subarray(nl + 1)
  t.equal(echoed.subarray(0, head.length).toString('latin1'), head, 'head first, as the client sent it')
  t.ok(echoed.subarray(head.length).equals(payload), `all ${payload.length} bytes after it, in order`)
  t.ok(bufferedAtDetach >= 16 * 1024, `${bufferedAtDetach} bytes sat in Node's buffer when the handoff began`)
  client.socket.end()
  await client.closed
  await sibling.request('idle')
  await sender.close()
  await stopChild(t, sibling)
})
