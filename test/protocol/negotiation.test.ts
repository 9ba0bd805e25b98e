// Version negotiation over real channels (PROTOCOL.md §5, §14): our receiver
// (a child process) and our sender (a Link in this process) speak 2 with a
// peer that lists 2 and 1 with a peer written from the version 1 document;
// a frame of the wrong version is ERROR "bad-version" and costs the channel,
// with the descriptor it brought closed. The hand-built peers here write and
// read raw frames, so what crosses the socket is checked byte for byte.
import t, { type Test } from 'tap'
import net from 'node:net'
import path from 'node:path'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { Channel, closeFds } from '../../plugin/channel.js'
import { connectUnix, listenUnix, type UnixAddress } from '../../plugin/unix.js'
import { Link, type Verdict } from '../../plugin/sender/link.js'
import * as protocol from '../../plugin/protocol/index.js'
import { startReceiver, stopChild, tmpDir } from '../receiver/helpers.js'

const { FrameType } = protocol
const NONE = Buffer.alloc(0)

/** A hand-built peer: keeps every frame raw (header version and body bytes as they came), with its descriptors closed. */
class RawPeer {
  readonly frames: Buffer[] = []
  private waiters: Array<() => void> = []
  ended = false
  readonly closed: Promise<void>

  constructor (readonly channel: Channel) {
    channel.on('message', (frame, fds) => { closeFds(fds); this.frames.push(frame); this.wake() })
    channel.on('frameError', (_err, frame) => { if (frame.length > 0) { this.frames.push(frame); this.wake() } })
    channel.on('error', () => {})
    this.closed = new Promise((resolve) => channel.once('close', () => { this.ended = true; resolve(); this.wake() }))
  }

  static async connect (address: UnixAddress): Promise<RawPeer> {
    return new RawPeer(new Channel(await connectUnix(address), protocol.protocolFramer))
  }

  private wake (): void {
    for (const wake of this.waiters.splice(0)) wake()
  }

  /** The next frame of `type` not yet taken (frames before it of other types are skipped); fails after `limitMs` saying what came instead. */
  async next (type: protocol.FrameType, limitMs = 15000): Promise<Buffer> {
    const deadline = Date.now() + limitMs
    for (;;) {
      const i = this.frames.findIndex((frame) => frame[3] === type)
      if (i !== -1) return this.frames.splice(0, i + 1)[i]
      const waited = `${protocol.FRAME_TYPE_NAMES[type]}; got types ${this.frames.map((f) => f[3]).join(',') || 'none'}`
      if (this.ended) throw new Error(`channel closed while waiting for ${waited}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${waited} within ${limitMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  close (): Promise<void> {
    this.channel.close()
    return this.closed
  }
}

/** A connected TCP socket pair on loopback: `fd` is the server side's descriptor (this process keeps it). */
async function tcpPair (t: Test): Promise<{ fd: number, client: net.Socket, serverSide: net.Socket }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  const serverSide = await accepted
  t.teardown(() => { client.destroy(); serverSide.destroy(); server.close() })
  return { fd: (serverSide as unknown as { _handle: { fd: number } })._handle.fd, client, serverSide }
}

const rawRequest = (remotePort: number): protocol.HandoffRequest => ({
  meta: { kind: 'raw', keepAlive: false, sentAt: Date.now(), remoteAddress: '127.0.0.1', remotePort, family: 'IPv4', context: { room: 'lobby' } },
  head: NONE,
  buffered: NONE
})

// ---------------------------------------------------------------------------
// Our receiver

for (const [listed, expected] of [[1, 1], [2, 2]] as const) {
  t.test(`our receiver with a sender that lists version ${listed}: the channel speaks ${expected}`, async (t) => {
    checkFdLeaks(t)
    const sockPath = path.join(tmpDir(t), 'r.sock')
    const receiver = await startReceiver(t, 'raw', { path: sockPath })
    const peer = await RawPeer.connect(sockPath)
    await peer.channel.send(protocol.encodeHello({ role: 'sender', pid: process.pid, version: listed }))
    const hello = await peer.next(FrameType.Hello)
    t.equal(hello[2], 1, 'its HELLO carries header version 1')
    t.match(protocol.decodeMessage(hello).body, { role: 'receiver', version: 2, minVersion: 1 }, 'and lists 1 to 2')
    await receiver.event('peer')
    const baseline = receiver.fds()

    const { fd, client, serverSide } = await tcpPair(t)
    const request = rawRequest(client.localPort ?? 0)
    await peer.channel.send(protocol.encodeHandoff(1, request, undefined, expected), [fd])
    const accept = await peer.next(FrameType.Accept)
    t.equal(accept[2], expected, `ACCEPT of header version ${expected}`)
    t.equal(accept.length - 16, expected === 1 ? Buffer.byteLength('{"live":1,"max":null}') : 16,
      expected === 1 ? 'a JSON body' : 'a 16-byte binary body')
    t.same(protocol.decodeMessage(accept, { version: expected }).body, { live: 1, max: null })
    serverSide.destroy() // our copy: the receiver's keeps the connection
    const line = await new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())))
    t.match(JSON.parse(line.split('\n')[0]), { context: { room: 'lobby' }, remotePort: client.localPort }, 'the metadata arrived whole')
    client.end()
    await receiver.request('idle')
    t.equal(await fdsBackTo(receiver.pid, baseline), baseline, 'the receiver holds no descriptor of it any more')
    await peer.close()
    await stopChild(t, receiver, 'close')
  })
}

for (const [channelVersion, frameVersion, withFd] of [[1, 2, true], [2, 1, true], [1, 2, false]] as const) {
  const what = withFd ? 'its descriptor closed' : 'not a REJECT for its missing descriptor (the header is checked first)'
  t.test(`our receiver: a HANDOFF of version ${frameVersion} on a channel of version ${channelVersion} is ERROR "bad-version", ${what}`, async (t) => {
    checkFdLeaks(t)
    const sockPath = path.join(tmpDir(t), 'r.sock')
    const receiver = await startReceiver(t, 'raw', { path: sockPath })
    const peer = await RawPeer.connect(sockPath)
    await peer.channel.send(protocol.encodeHello({ role: 'sender', pid: process.pid, version: channelVersion }))
    await peer.next(FrameType.Hello)
    await receiver.event('peer')
    const baseline = receiver.fds()
    const { fd } = await tcpPair(t)
    await peer.channel.send(protocol.encodeHandoff(7, rawRequest(1), undefined, frameVersion), withFd ? [fd] : [])
    const error = await peer.next(FrameType.Error)
    t.equal(error[2], channelVersion, 'the ERROR carries the channel\'s version')
    t.match(protocol.decodeMessage(error, { version: channelVersion }).body, { reason: 'bad-version', message: /frame version/ })
    await peer.closed
    t.pass('the receiver closed the channel')
    t.equal(await fdsBackTo(receiver.pid, baseline - 1), baseline - 1, 'the descriptor it brought and the channel are closed')
    await stopChild(t, receiver, 'close')
  })
}

t.test('our receiver on a version 2 channel: malformed binary metadata is REJECT "bad-metadata", its descriptor closed, the channel kept', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const peer = await RawPeer.connect(sockPath)
  await peer.channel.send(protocol.encodeHello({ role: 'sender', pid: process.pid, version: 2 }))
  await peer.next(FrameType.Hello)
  await receiver.event('peer')
  const baseline = receiver.fds()
  const { fd, client, serverSide } = await tcpPair(t)
  const good = protocol.encodeHandoff(1, rawRequest(client.localPort ?? 0), undefined, 2)
  const faults: Array<[string, (frame: Buffer) => void]> = [
    ['an unknown kind code', (f) => { f[20] = 9 }],
    ['an undefined flag bit', (f) => { f[21] |= 0x80 }],
    ['lengths that do not add up', (f) => { f.writeUInt16BE(f.readUInt16BE(28) + 1, 28) }],
    ['sentAt NaN', (f) => { f.writeDoubleBE(NaN, 40) }]
  ]
  for (const [i, [what, fault]] of faults.entries()) {
    const bad = Buffer.from(good)
    bad.writeUInt32BE(10 + i, 8)
    fault(bad)
    await peer.channel.send(bad, [fd])
    const reject = await peer.next(FrameType.Reject)
    t.equal(reject[2], 2, `${what}: a REJECT of version 2`)
    t.match(protocol.decodeMessage(reject, { version: 2 }), { id: 10 + i, body: { reason: 'bad-metadata', retryable: false } }, what)
  }
  t.equal(await fdsBackTo(receiver.pid, baseline), baseline, 'every descriptor they brought was closed')
  await peer.channel.send(good, [fd])
  t.same(protocol.decodeMessage(await peer.next(FrameType.Accept), { version: 2 }).body, { live: 1, max: null }, 'the channel still takes a good one')
  serverSide.destroy()
  await new Promise<void>((resolve) => client.once('data', () => resolve()))
  client.end()
  await receiver.request('idle')
  await peer.close()
  await stopChild(t, receiver, 'close')
})

// ---------------------------------------------------------------------------
// Our sender (a Link to a hand-built receiver listening here)

async function linkTo (t: Test, listed: number): Promise<{ link: Link, peer: RawPeer }> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const listener = await listenUnix(sockPath)
  const connected = new Promise<number>((resolve) => listener.once('connection', resolve))
  const link = new Link({ address: sockPath, reconnect: { min: 60000, max: 60000 } })
  t.teardown(() => { link.destroy(); listener.close() })
  link.start()
  const peer = new RawPeer(new Channel(await connected, protocol.protocolFramer))
  t.teardown(() => peer.close())
  const hello = await peer.next(FrameType.Hello)
  t.equal(hello[2], 1, 'the sender\'s HELLO carries header version 1')
  t.match(protocol.decodeMessage(hello).body, { role: 'sender', version: 2, minVersion: 1 }, 'and lists 1 to 2')
  const ready = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  await peer.channel.send(protocol.encodeHello({ role: 'receiver', pid: process.pid, version: listed }))
  await ready
  return { link, peer }
}

for (const [listed, expected] of [[1, 1], [2, 2]] as const) {
  t.test(`our sender with a receiver that lists version ${listed}: the channel speaks ${expected}`, async (t) => {
    checkFdLeaks(t)
    const { link, peer } = await linkTo(t, listed)
    t.equal(link.protocolVersion, expected)
    const { fd } = await tcpPair(t)
    const request = rawRequest(40000)
    const verdict = link.send(request, fd, { timeout: 60000, grace: 1000 })
    const handoff = await peer.next(FrameType.Handoff)
    t.equal(handoff[2], expected, `HANDOFF of header version ${expected}`)
    t.equal(handoff[20] === 0x7b, expected === 1, expected === 1 ? 'JSON metadata' : 'binary metadata')
    const message = protocol.decodeMessage(handoff, { version: expected })
    if (message.type !== FrameType.Handoff) throw new Error('not a HANDOFF')
    t.match(message.body.meta, { ...request.meta, sentAt: Number, deadline: Number })
    await peer.channel.send(protocol.encodeAccept(message.id, { live: 4, max: 9 }, expected))
    t.match(await verdict, { outcome: 'accepted', live: 4, max: 9 })
    await link.close()
  })
}

t.test('our sender: an ACCEPT of version 1 on a channel of version 2 is ERROR "bad-version"; the handoff is in doubt', async (t) => {
  checkFdLeaks(t)
  const { link, peer } = await linkTo(t, 2)
  const { fd } = await tcpPair(t)
  const verdict = link.send(rawRequest(40001), fd, { timeout: 60000, grace: 1000 })
  const handoff = await peer.next(FrameType.Handoff)
  await peer.channel.send(protocol.encodeAccept(handoff.readUInt32BE(8), { live: 1, max: null }, 1))
  const error = await peer.next(FrameType.Error)
  t.equal(error[2], 2, 'the ERROR carries the channel\'s version')
  t.match(protocol.decodeMessage(error, { version: 2 }).body, { reason: 'bad-version' })
  const outcome: Verdict = await verdict
  t.match(outcome, { outcome: 'doubt', error: { reason: 'bad-version' } }, 'a verdict it could not read: nobody can say who owns it')
  await peer.closed
})

t.test('our sender and our receiver speak version 2 to each other', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const link = new Link({ address: sockPath, reconnect: { min: 60000, max: 60000 } })
  t.teardown(() => link.destroy())
  const ready = new Promise<void>((resolve) => link.once('ready', () => resolve()))
  link.start()
  await ready
  t.equal(link.protocolVersion, 2)
  const { fd, client, serverSide } = await tcpPair(t)
  t.match(await link.send(rawRequest(client.localPort ?? 0), fd, { timeout: 60000, grace: 1000 }), { outcome: 'accepted', live: 1 })
  serverSide.destroy()
  const line = await new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())))
  t.match(JSON.parse(line.split('\n')[0]), { context: { room: 'lobby' }, remotePort: client.localPort })
  client.end()
  await receiver.request('idle')
  await link.close()
  await stopChild(t, receiver, 'close')
})
