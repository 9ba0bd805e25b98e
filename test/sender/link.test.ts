// The sender's channel against receivers that break the protocol in ways the
// library's own receiver never does (so the hand-built receiver,
// test/fixtures/sibling-faulty.js, is the right peer here): one that never
// sends its HELLO, and one that ACCEPTs a handoff after the sender has given
// it up at deadline + grace, and one that ends the channel with ERROR.
import t from 'tap'
import net from 'node:net'
import path from 'node:path'
import { Link, type Verdict } from '../../plugin/sender/link.js'
import type { HandoffRequest } from '../../plugin/protocol/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { startFaulty, stopChild, tmpDir } from './helpers.js'

t.test('no HELLO from the receiver within helloTimeout: ERROR "timeout" to it, ERR_HANDOFF_HELLO_TIMEOUT, the link is down', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startFaulty(t, { path: sockPath, mode: 'no-hello' })
  const link = new Link({ address: sockPath, helloTimeout: 200, reconnect: { min: 60000, max: 60000 } })
  t.teardown(() => link.destroy())
  const warning = new Promise<Error>((resolve) => link.once('warning', resolve))
  const down = new Promise<Error>((resolve) => link.once('down', resolve))
  link.start()
  t.match(await warning, { code: 'ERR_HANDOFF_HELLO_TIMEOUT', message: /within 200 ms/ })
  t.match(await down, { code: 'ERR_HANDOFF_HELLO_TIMEOUT' })
  t.match(await receiver.event('error-frame'), { reason: 'timeout' }, 'the receiver was told why')
  await receiver.event('peerClose')
  t.match(link.health(), { state: 'down', failures: 1, lastError: /no HELLO/ })
  link.destroy()
  await stopChild(t, receiver, 'exit')
})

t.test('an ACCEPT after the handoff was given up: ERR_HANDOFF_LATE_ACCEPT (a violation), the verdict stays "timeout"', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startFaulty(t, { path: sockPath, mode: 'silent' })
  const link = new Link({ address: sockPath, reconnect: { min: 60000, max: 60000 } })
  t.teardown(() => link.destroy())
  const ready = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  link.start()
  await ready
  // Two client connections to hand off (this process keeps its copies).
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const accepted: net.Socket[] = []
  server.on('connection', (socket) => accepted.push(socket))
  const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')]
  for (const client of clients) client.on('error', () => {})
  await new Promise<void>((resolve) => { const check = (): void => { if (accepted.length === 2) resolve() }; server.on('connection', check) })
  const fdOf = (socket: net.Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd
  const request: HandoffRequest = { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) }
  // The first one is given up quickly; the second keeps the channel in use
  // (a channel with nothing in flight after a timeout is replaced).
  const first = link.send(request, fdOf(accepted[0]), { timeout: 100, grace: 0 })
  const second = link.send(request, fdOf(accepted[1]), { timeout: 600000, grace: 0 })
  const [h1, h2] = [await receiver.event('handoff'), await receiver.event('handoff')]
  t.match(await first, { outcome: 'timeout', error: { code: 'ERR_HANDOFF_VERDICT_TIMEOUT' } })
  const violation = new Promise<Error>((resolve) => link.once('violation', resolve))
  await receiver.request('accept', { id: h1.id })
  t.match(await violation, { code: 'ERR_HANDOFF_LATE_ACCEPT', message: new RegExp(`accepted handoff ${h1.id as number} after its deadline`) })
  await receiver.request('accept', { id: h2.id })
  t.match(await second, { outcome: 'accepted' } as Partial<Verdict>, 'the other handoff on the channel is unaffected')
  for (const socket of accepted) socket.destroy()
  for (const client of clients) client.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await link.close()
  await receiver.event('peerClose')
  await stopChild(t, receiver, 'exit')
})

t.test('an ERROR from the receiver with a handoff in flight: the channel ends, the connection is ours (lost), the link reconnects', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startFaulty(t, { path: sockPath, mode: 'silent' })
  const link = new Link({ address: sockPath, reconnect: { min: 20, max: 20 } })
  t.teardown(() => link.destroy())
  const ready = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  link.start()
  await ready
  await receiver.event('peer')
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  const socket = await accepted
  const request: HandoffRequest = { meta: { kind: 'raw', keepAlive: false, sentAt: 0 }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) }
  const verdict = link.send(request, (socket as unknown as { _handle: { fd: number } })._handle.fd, { timeout: 600000, grace: 0 })
  await receiver.event('handoff')
  const reconnected = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  await receiver.request('error', { reason: 'internal' })
  t.match(await verdict, { outcome: 'lost', error: { code: 'ERR_HANDOFF_RECEIVER_LOST', message: /ERROR internal/ } })
  await reconnected
  t.equal(link.state, 'ready', 'a fresh channel')
  socket.destroy()
  client.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await link.close()
  await receiver.event('peerClose')
  await stopChild(t, receiver, 'exit')
})
