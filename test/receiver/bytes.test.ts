// Not one byte lost or reordered: what the client sends in the same packet as
// its request, right after it (before the verdict) and later, all reaches the
// sibling in order, through a raw consumer, a WebSocket server, and an HTTP
// server serving pipelined keep-alive requests (when the HANDOFF allows
// them: keepAlive; without it, none after the handed-off one).
//
// The web app hands off with the library's own sender
// (test/fixtures/receiver-webapp.js). The pipelined tests keep the hand-built
// sender (test/fixtures/receiver-sender.js): a request handed off with
// pipelined requests already read behind it. The library's sender refuses
// that (ERR_HANDOFF_PIPELINED); the protocol allows it, and the receiver must
// serve what another sender may send.
import t from 'tap'
import crypto from 'node:crypto'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { clientFrame, rawClient, serverFrames, startReceiver, startPair, startSender, stopChild, tmpDir } from './helpers.js'

t.test('raw consumer: the socket yields the client\'s exact byte stream, head first', async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp: sender } = await startPair(t, 'raw', {}, { context: { n: 1 } })
  const receiverFds = receiver.fds()

  for (const round of [1, 2, 3]) {
    const client = rawClient(sender.port)
    const head = Buffer.from(`GET /echo/${round} HTTP/1.1\r\nHost: example\r\nUpgrade: octet-stream\r\nConnection: Upgrade\r\n\r\n`)
    const samePacket = crypto.randomBytes(1000)
    const rightAfter = crypto.randomBytes(64 * 1024)
    const later = crypto.randomBytes(300 * 1024)
    client.socket.write(Buffer.concat([head, samePacket]))
    client.socket.write(rightAfter) // most likely still in flight while the sender detaches
    const started = await sender.event('sent')
    t.ok(started.headLength >= samePacket.length, `round ${round}: the sender had read ${started.headLength as number} bytes past the head`)
    t.match(await sender.event('result'), { outcome: 'accepted', handedOff: true }, `round ${round}: handed off`)
    client.socket.write(later)
    client.socket.end()
    const sent = Buffer.concat([head, samePacket, rightAfter, later])
    const received = await client.ended
    const newline = received.indexOf('\n')
    const info = JSON.parse(received.subarray(0, newline).toString())
    t.equal(info.headLength, head.length, `round ${round}: the info's head is the request head`)
    t.same(info.context, { n: 1 }, `round ${round}: with the web app's context`)
    t.equal(info.remotePort, await client.localPort, `round ${round}: remotePort is the client's`)
    const echoed = received.subarray(newline + 1)
    t.equal(echoed.length, sent.length, `round ${round}: as many bytes back as sent (${sent.length})`)
    t.ok(echoed.equals(sent), `round ${round}: every byte, in order`)
    await client.closed
  }
  await receiver.request('idle')
  t.equal(receiver.fds(), receiverFds, 'the receiver closed every handed-off socket')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

const upgradeHead = (key: string): Buffer => Buffer.from(
  'GET /ws HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)

for (const kind of ['fastify', 'ws', 'raw'] as const) {
  t.test(`${kind}: WebSocket frames in the same packet as the upgrade request and right after it`, async (t) => {
    checkFdLeaks(t)
    const { receiver, webapp: sender } = await startPair(t, kind)

    const client = rawClient(sender.port)
    const messages = Array.from({ length: 12 }, (_, i) => `message ${i} ${'.'.repeat(i * 37)}`)
    const frames = messages.map((m) => clientFrame(1, Buffer.from(m)))
    const firstPacket = Buffer.concat([upgradeHead(crypto.randomBytes(16).toString('base64')), ...frames.slice(0, 4)])
    // End the first packet in the middle of a frame; the rest follows at once.
    const split = frames[4].length >> 1
    client.socket.write(Buffer.concat([firstPacket, frames[4].subarray(0, split)]))
    client.socket.write(Buffer.concat([frames[4].subarray(split), ...frames.slice(5, 8)]))
    t.match(await sender.event('result'), { outcome: 'accepted', handedOff: true })
    for (const frame of frames.slice(8)) client.socket.write(frame)

    // serverFrames reads the frames after the handshake response (none before it has ended).
    const data = await client.waitFor((d) => serverFrames(d).length >= messages.length + 1)
    t.match(data.toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\n/, '101 from the sibling')
    const received = serverFrames(data)
    t.equal(JSON.parse(received[0].payload.toString()).pid, receiver.pid, 'served by the sibling')
    t.same(received.slice(1).map((f) => f.payload.toString()), messages, 'every message echoed, in order')

    client.socket.write(clientFrame(8, Buffer.from([0x03, 0xe8])))
    const closing = await client.waitFor((d) => serverFrames(d).some((f) => f.opcode === 8))
    const close = serverFrames(closing).find((f) => f.opcode === 8)
    t.equal(close?.payload.readUInt16BE(0), 1000, 'the closing handshake completes')
    client.socket.end()
    await client.closed
    await receiver.request('idle')
    await stopChild(t, sender)
    await stopChild(t, receiver, 'close')
  })
}

t.test('fastify: a long-lived response, then the pipelined keep-alive requests behind it', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const sender = await startSender(t, { path: sockPath }, { context: { user: 'bob' } })
  await sender.event('ready')

  const client = rawClient(sender.port)
  client.socket.write('GET /sse HTTP/1.1\r\nHost: example\r\nAccept: text/event-stream\r\n\r\n' +
    'GET /plain HTTP/1.1\r\nHost: example\r\n\r\n')
  const accepted = await sender.event('accept')
  t.equal(accepted.id, 1)
  client.socket.write('GET /plain HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n')
  const text = (await client.ended).toString('latin1')
  const responses = text.split(/(?=HTTP\/1\.1 )/)
  t.equal(responses.length, 3, 'three responses on one connection')
  t.match(responses[0], /^HTTP\/1\.1 200 OK\r\n[^]*content-type: text\/event-stream/i, 'the SSE response')
  const first = /data: (\{.*\})\n\n/.exec(responses[0])
  const sse = JSON.parse(first?.[1] ?? 'null')
  t.equal(sse.pid, receiver.pid, 'the stream comes from the sibling')
  t.equal(sse.info.kind, 'request')
  t.same(sse.info.context, { user: 'bob' })
  t.match(responses[0], /data: two\n\n[^]*data: three\n\n/, 'every event')
  for (const response of responses.slice(1)) {
    const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, ''))
    t.equal(body.pid, receiver.pid, 'the next request on the connection is served by the sibling too (the sender sent keepAlive: true)')
    t.ok(body.info.requestNumber > 1, 'numbered as a later request')
    t.same(body.info.context, { user: 'bob' }, 'and handoffInfo() still knows the connection')
  }
  t.match(responses[2], /connection: close/i)
  await client.closed
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('fastify: keepAlive false: requests pipelined with the head (buffered) and after it never reach a handler', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const sender = await startSender(t, { path: sockPath }, { context: { user: 'bob' }, keepAlive: false })
  await sender.event('ready')

  const client = rawClient(sender.port)
  client.socket.write('GET /sse HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\n\r\n' +
    'GET /plain HTTP/1.1\r\nHost: example\r\n\r\n')
  const accepted = await sender.event('accept')
  t.ok(accepted.buffered > 0, 'the second request travelled in `buffered`')
  client.socket.write('GET /plain HTTP/1.1\r\nHost: example\r\n\r\n')
  await client.closed
  const text = client.received().toString('latin1')
  t.equal(text.split('HTTP/1.1 ').length, 2, 'one response')
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*connection: close[^]*data: three\n\n\r\n0\r\n\r\n$/i, 'the whole stream, then the end')
  const sse = JSON.parse(/data: (\{.*\})\n\n/.exec(text)?.[1] ?? 'null')
  t.same({ keepAlive: sse.info.keepAlive, connection: sse.info.connection }, { keepAlive: false, connection: 'close' })
  t.match(sse.info.head, /Connection: keep-alive/, 'handoffInfo().head is the head as sent')
  t.equal((await receiver.request('served')).served, 1, 'only the handed-off request was served')
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('fastify: keepAlive false: a request body (in `buffered` and after it) is served; the request pipelined behind it is not', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'fastify', { path: sockPath })
  const sender = await startSender(t, { path: sockPath }, { keepAlive: false })
  await sender.event('ready')

  const client = rawClient(sender.port)
  const body = 'x'.repeat(5000)
  client.socket.write(`POST /echo HTTP/1.1\r\nHost: example\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n` +
    body.slice(0, 1000))
  await sender.event('accept')
  client.socket.write(body.slice(1000) + 'GET /plain HTTP/1.1\r\nHost: example\r\n\r\n')
  await client.closed
  const text = client.received().toString('latin1')
  t.equal(text.split('HTTP/1.1 ').length, 2, 'one response')
  const echoed = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))
  t.equal(echoed.body, body, 'the whole body reached the handler')
  t.equal(echoed.info.connection, 'close')
  t.equal((await receiver.request('served')).served, 1, 'the pipelined request was not served')
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})
