// The receiver wraps a received descriptor itself (issue 17): one getsockopt
// says whether it is a TCP socket (binding.isTcpSocket), and the net.Socket
// is built on a TCP handle opened on it, without Node's guess of its kind.
// What the wrap must still do: refuse anything but TCP as "bad-descriptor"
// (the caller keeps the descriptor then), read nothing before the stream
// flows, and give a socket that carries the client's bytes both ways. The
// first wrap in a process goes the public way (it teaches the handle's
// constructor), the later ones the direct way: both are exercised here.
import t from 'tap'
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { once } from 'node:events'
import { Channel, closeFds } from '../../plugin/channel.js'
import { binding } from '../../plugin/native.js'
import { rebuildSocket } from '../../plugin/receiver/rebuild.js'
import { isRejection } from '../../plugin/receiver/rejection.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

/** Every frame is 4 bytes and carries one descriptor. */
const framer = { headerSize: 4, maxFrameSize: 4, parse: () => ({ frameSize: 4, fdCount: 1 }) }

/**
 * A fresh descriptor for what `fd` is, as a receiver gets one: passed over
 * a Unix socket (SCM_RIGHTS), so no libuv handle of this process has it.
 */
async function received (fd: number): Promise<number> {
  const [a, b] = Channel.pair(framer)
  try {
    const got = once(b, 'message') as Promise<[Buffer, number[]]>
    a.sendWithCallback(Buffer.alloc(4), [fd], () => {})
    const [, fds] = await got
    return fds[0]
  } finally {
    a.close()
    b.close()
  }
}

interface Pair { server: net.Server, client: net.Socket, accepted: net.Socket }

async function tcpPair (host = '127.0.0.1'): Promise<Pair> {
  const server = net.createServer({ pauseOnConnect: true })
  server.listen(0, host)
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  const client = net.connect((server.address() as net.AddressInfo).port, host)
  await once(client, 'connect')
  return { server, client, accepted: (await accepted)[0] }
}

async function closePair ({ server, client, accepted }: Pair): Promise<void> {
  client.destroy()
  accepted.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

function fdOf (handleOwner: unknown): number {
  return (handleOwner as { _handle: { fd: number } })._handle.fd
}

/** Descriptors of every kind a receiver must refuse, and a way to close them all. */
async function notTcp (dir: string): Promise<{ udp: number, connectedUdp: number, unix: number, file: number, close: () => void }> {
  const udp = dgram.createSocket('udp4')
  udp.bind(0, '127.0.0.1')
  await once(udp, 'listening')
  const connectedUdp = dgram.createSocket('udp4')
  connectedUdp.connect((udp.address()).port, '127.0.0.1')
  await once(connectedUdp, 'connect')
  const [unixA, unixB] = binding.socketpair()
  const file = fs.openSync(path.join(dir, 'file'), 'w')
  return {
    udp: fdOf(udp),
    connectedUdp: fdOf(connectedUdp),
    unix: unixA,
    file,
    close: () => {
      fs.closeSync(file)
      binding.closeFd(unixA)
      binding.closeFd(unixB)
      udp.close()
      connectedUdp.close()
    }
  }
}

t.test('isTcpSocket: true for TCP sockets only, false for any other descriptor', async (t) => {
  checkFdLeaks(t)
  const pair = await tcpPair()
  const other = await notTcp(tmpDir(t))
  const closed = fs.openSync(path.join(tmpDir(t), 'closed'), 'w')
  fs.closeSync(closed)

  t.equal(binding.isTcpSocket(fdOf(pair.accepted)), true, 'an accepted TCP connection')
  t.equal(binding.isTcpSocket(fdOf(pair.client)), true, 'a connecting side')
  t.equal(binding.isTcpSocket(fdOf(pair.server)), true, 'a listening TCP socket (its getpeername refuses it later)')
  t.equal(binding.isTcpSocket(other.udp), false, 'a UDP socket')
  t.equal(binding.isTcpSocket(other.connectedUdp), false, 'a connected UDP socket (it has a peer address)')
  t.equal(binding.isTcpSocket(other.unix), false, 'a Unix stream socket')
  t.equal(binding.isTcpSocket(other.file), false, 'a regular file')
  t.equal(binding.isTcpSocket(closed), false, 'a closed descriptor')
  t.throws(() => (binding.isTcpSocket as (...args: unknown[]) => unknown)(undefined),
    { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /isTcpSocket\(fd: descriptor\).*got undefined/ }, 'arguments are checked')

  other.close()
  await closePair(pair)
})

t.test('a received TCP descriptor, wrapped (first the public way, then on a TCP handle): reads nothing until it flows, then carries bytes both ways', async (t) => {
  checkFdLeaks(t)
  for (const round of ['first wrap in this process', 'second', 'third']) {
    const pair = await tcpPair()
    pair.client.write('sent before the wrap')
    const fd = await received(fdOf(pair.accepted))
    const socket = rebuildSocket(fd, { allowHalfOpen: false })
    t.equal((socket as unknown as { _handle: { constructor: { name: string } } })._handle.constructor.name, 'TCP', `${round}: a TCP handle`)
    t.equal(socket.remotePort, pair.client.localPort, `${round}: the client's address`)
    t.equal(socket.bytesRead, 0, `${round}: nothing read in the constructor`)
    t.equal(socket.readableLength, 0, `${round}: nothing buffered`)
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    while (Buffer.concat(chunks).length < 'sent before the wrap'.length) await once(socket, 'data')
    t.equal(Buffer.concat(chunks).toString(), 'sent before the wrap', `${round}: the client's bytes, once it flows`)
    const answer = once(pair.client, 'data') as Promise<[Buffer]>
    socket.write('answer')
    t.equal((await answer)[0].toString(), 'answer', `${round}: written to the client`)
    // The client's own end stays open until this copy and the accepted one close.
    socket.destroy()
    await once(socket, 'close')
    await closePair(pair)
  }
})

t.test('anything but a TCP socket: REJECT bad-descriptor, and the caller still owns the descriptor', async (t) => {
  checkFdLeaks(t)
  const other = await notTcp(tmpDir(t))
  const cases: Array<[string, number]> = [
    ['a connected UDP socket', other.connectedUdp],
    ['a Unix stream socket', other.unix],
    ['a regular file', other.file]
  ]
  for (const [what, original] of cases) {
    const fd = await received(original)
    let caught: unknown
    try {
      rebuildSocket(fd)
    } catch (err) {
      caught = err
    }
    t.ok(isRejection(caught), `${what}: a rejection`)
    t.equal((caught as { reason?: string } | undefined)?.reason, 'bad-descriptor', `${what}: bad-descriptor`)
    t.match((caught as Error | undefined)?.message, /expected a connected TCP socket/, `${what}: says what was expected`)
    t.doesNotThrow(() => fs.fstatSync(fd), `${what}: the descriptor is still open, the caller's`)
    closeFds([fd])
  }
  other.close()
})
