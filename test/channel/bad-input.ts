// Bad input on a listening channel: one listening process (a fixture that
// echoes whole frames), several peers from this process. A bad peer sends raw
// bytes and descriptors (Channel.send puts the descriptors on the first byte);
// each case checks the listener's verdict and code, that the descriptors it was
// sent were closed (every copy: EOF on a socketpair's other end), that its
// /proc/self/fd is back where it started, and that well-behaved peers, one
// connected all along and one connecting afterwards, are still served.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { Channel } from '../../plugin/channel.js'
import { connectUnix } from '../../plugin/unix.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { FixtureProcess, preferredFraming, frameQueue, once } from '../fixtures/channel-common.js'
import { tmpDir } from '../helpers/tmp.js'

const framing = preferredFraming()

t.test(`bad input on a listening channel (${framing.name} framing)`, async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-bad-')
  const sockPath = path.join(dir, 'listener.sock')
  const server = new FixtureProcess('channel-echo-server.js', { args: [sockPath] })
  t.teardown(() => { if (!server.exited) server.child.kill('SIGKILL') })
  const listening = await server.next('listening')
  t.equal(listening.framing, framing.name, `the listener frames with the ${framing.name} framer`)

  interface Peer { channel: Channel, id: number, frames: ReturnType<typeof frameQueue>, errors: string[] }
  const connectPeer = async (): Promise<Peer> => {
    const channel = new Channel(await connectUnix(sockPath), framing.framer)
    const errors: string[] = []
    channel.on('error', (err: any) => errors.push(err.code))
    const { peer } = await server.next('connection')
    return { channel, id: peer, frames: frameQueue(channel), errors }
  }
  const serverFds = async (): Promise<number> => {
    server.send({ cmd: 'fds' })
    return (await server.next('fds')).count
  }
  const closePeer = async (peer: Peer): Promise<void> => {
    if (!peer.channel.closed) {
      const closed = once(peer.channel, 'close')
      peer.channel.close()
      await closed
    }
    await server.next('close', (m: any) => m.peer === peer.id)
  }
  let echoes = 0
  const echo = async (t: Test, peer: Peer, what: string): Promise<void> => {
    const frame = framing.frame(JSON.stringify({ echo: ++echoes }))
    await peer.channel.send(frame)
    const back = await peer.frames.next()
    t.same(back.frame, frame, `${what}: its frame came back`)
    await server.next('message', (m: any) => m.peer === peer.id)
  }
  /** Descriptors to send; `gone` resolves once every copy of each is closed. */
  const watchedFds = (count: number): { fds: number[], gone: Promise<unknown> } => {
    const fds: number[] = []
    const gone: Array<Promise<unknown>> = []
    for (let i = 0; i < count; i++) {
      const [watchFd, sent] = binding.socketpair()
      const watch = new Channel(watchFd, framing.framer)
      gone.push(once(watch, 'close')) // after 'end': EOF, no copy of `sent` left
      fds.push(sent)
    }
    return { fds, gone: Promise.all(gone) }
  }
  const sendRaw = async (peer: Peer, bytes: Buffer, fds: number[] = []): Promise<void> => {
    await peer.channel.send(bytes, fds)
    for (const fd of fds) binding.closeFd(fd) // ours; the copies in flight are the listener's now
  }

  const steady = await connectPeer()
  const base = await serverFds()
  /** After each case: served before and after, fds back, the bad peer's descriptors gone. */
  const afterwards = async (t: Test, gone: Promise<unknown>): Promise<void> => {
    await gone
    t.pass('every descriptor the bad peer sent was closed by the listener')
    t.equal(await serverFds(), base, 'the listener has its starting number of descriptors')
    await echo(t, steady, 'the peer connected all along')
    const fresh = await connectPeer()
    await echo(t, fresh, 'a new peer')
    await closePeer(fresh)
  }

  await t.test('garbage bytes (bad magic), with a descriptor: fatal for that peer only', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(1)
    const badClosed = once(bad.channel, 'close')
    await sendRaw(bad, Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), fds)
    const err = await server.next('error', (m: any) => m.peer === bad.id)
    t.match(err, framing.codes.badMagic, `typed error ${JSON.stringify(framing.codes.badMagic)}`)
    await server.next('close', (m: any) => m.peer === bad.id)
    t.pass('the listener closed that peer\'s channel')
    await badClosed
    t.pass('the bad peer saw its channel end')
    await afterwards(t, gone)
  })

  await t.test('a frame declaring a descriptor that never came: frameError, the channel goes on', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    await sendRaw(bad, framing.frame('{"where":"is my descriptor"}', 1))
    const err = await server.next('frameError', (m: any) => m.peer === bad.id)
    t.equal(err.code, 'ERR_HANDOFF_FD_MISMATCH', 'frameError ERR_HANDOFF_FD_MISMATCH')
    await echo(t, bad, 'the same peer, after its bad frame')
    await closePeer(bad)
    await afterwards(t, Promise.resolve())
  })

  await t.test('descriptors on a frame that declares none: frameError, closed, the channel goes on', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(2)
    await sendRaw(bad, framing.frame('{"declares":0}'), fds)
    const err = await server.next('frameError', (m: any) => m.peer === bad.id)
    t.equal(err.code, 'ERR_HANDOFF_FD_MISMATCH', 'frameError ERR_HANDOFF_FD_MISMATCH')
    await echo(t, bad, 'the same peer, after its bad frame')
    await closePeer(bad)
    await afterwards(t, gone)
  })

  await t.test('descriptors in the middle of a frame: ERR_HANDOFF_ORPHAN_FDS, the frame itself still arrives', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(1)
    const frame = framing.frame(JSON.stringify({ split: 'in two', pad: 'x'.repeat(64) }))
    const cut = framing.framer.headerSize + 10
    await sendRaw(bad, frame.subarray(0, cut))
    // The listener has read the first part before the rest (with a descriptor) is sent.
    await server.next('read', (m: any) => m.peer === bad.id && m.bytes >= cut)
    await sendRaw(bad, frame.subarray(cut), fds)
    const err = await server.next('frameError', (m: any) => m.peer === bad.id)
    t.equal(err.code, 'ERR_HANDOFF_ORPHAN_FDS', 'frameError ERR_HANDOFF_ORPHAN_FDS')
    const back = await bad.frames.next()
    t.same(back.frame, frame, 'the frame (declaring no descriptor) is delivered and echoed')
    await echo(t, bad, 'the same peer, afterwards')
    await closePeer(bad)
    await afterwards(t, gone)
  })

  await t.test('more descriptors than the frame declares: frameError, all closed, the channel goes on', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(3)
    await sendRaw(bad, framing.frame('{"declares":1}', 1), fds)
    const err = await server.next('frameError', (m: any) => m.peer === bad.id)
    t.equal(err.code, 'ERR_HANDOFF_FD_MISMATCH', 'frameError ERR_HANDOFF_FD_MISMATCH')
    await echo(t, bad, 'the same peer, after its bad frame')
    await closePeer(bad)
    await afterwards(t, gone)
  })

  await t.test('a header declaring more descriptors than a frame may carry (254): fatal', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(2)
    const badClosed = once(bad.channel, 'close')
    await sendRaw(bad, framing.frame('{"declares":254}', 254), fds)
    const err = await server.next('error', (m: any) => m.peer === bad.id)
    t.match(err, framing.codes.badFrame, `typed error ${JSON.stringify(framing.codes.badFrame)}`)
    await server.next('close', (m: any) => m.peer === bad.id)
    await badClosed
    await afterwards(t, gone)
  })

  await t.test('an oversized frame: fatal, ERR_HANDOFF_PROTOCOL frame-too-large', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(1)
    const badClosed = once(bad.channel, 'close')
    // Only the header: the listener must refuse on the declared size alone.
    const header = framing.frame('', 0, framing.maxFrameSize)
    await sendRaw(bad, header, fds)
    const err = await server.next('error', (m: any) => m.peer === bad.id)
    t.match(err, framing.codes.tooLarge, `typed error ${JSON.stringify(framing.codes.tooLarge)}`)
    await server.next('close', (m: any) => m.peer === bad.id)
    await badClosed
    await afterwards(t, gone)
  })

  await t.test('a peer that leaves in the middle of a frame carrying descriptors', async (t) => {
    checkFdLeaks(t)
    const bad = await connectPeer()
    const { fds, gone } = watchedFds(1)
    const frame = framing.frame(JSON.stringify({ never: 'finished' }), 1)
    await sendRaw(bad, frame.subarray(0, frame.length - 3), fds)
    await server.next('read', (m: any) => m.peer === bad.id && m.fds === 1)
    await closePeer(bad) // also waits for the listener's 'close'
    const err = await server.next('frameError', (m: any) => m.peer === bad.id)
    t.equal(err.code, 'ERR_HANDOFF_CHANNEL_ENDED', 'frameError ERR_HANDOFF_CHANNEL_ENDED')
    await afterwards(t, gone)
  })

  // Everything closes: the listener exits cleanly with its own descriptors back.
  await closePeer(steady)
  const bye = server.next('bye')
  const { code } = await server.finish()
  t.equal(code, 0, 'the listener exited cleanly')
  // A path listener holds two descriptors: the socket and its directory
  // (opened once, so that closing never follows the path again).
  t.equal((await bye).fds, listening.fds - 2, 'the listener is back to its starting descriptors, less the listening socket and its directory')
  t.equal(server.stderr, '', 'the listener wrote nothing to stderr')
  t.notOk(fs.existsSync(sockPath), 'the socket file is gone')
})
