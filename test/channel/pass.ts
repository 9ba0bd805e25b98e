// Descriptors of three kinds (a regular file, a pipe, an accepted TCP socket)
// handed from this process to a child over a Unix socket path; the child uses
// each one for real and answers on the channel.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { execFileSync } from 'node:child_process'
import { Channel } from '../../plugin/channel.js'
import { listenUnix } from '../../plugin/unix.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  FixtureProcess, createTestFramer, encodeTestFrame, testFrameBody, frameQueue, once
} from '../fixtures/channel-common.js'
import { tmpDir } from '../helpers/tmp.js'

function tempDir (t: Test): string {
  return tmpDir(t, 'handoff-pass-')
}

t.test('a file, a pipe and an accepted TCP socket cross to another process and work there', async (t) => {
  checkFdLeaks(t)
  const dir = tempDir(t)
  const sockPath = path.join(dir, 'channel.sock')

  const listener = await listenUnix(sockPath)
  const accepted = once(listener, 'connection')
  const child = new FixtureProcess('channel-pass-receiver.js', { args: [sockPath] })
  t.teardown(() => { if (!child.exited) child.child.kill('SIGKILL') })
  const start = await child.next('start')
  const [fd] = await accepted as [number]
  t.equal(binding.peerCredentials(fd).pid, child.pid, 'the accepted peer is the child')
  const listenerClosed = once(listener, 'close')
  listener.close()
  await listenerClosed
  t.notOk(fs.existsSync(sockPath), 'closing the listener removed the socket file')

  const channel = new Channel(fd, createTestFramer())
  const replies = frameQueue(channel)
  const nextReply = async (): Promise<Record<string, any>> => {
    const { frame, fds } = await replies.next()
    t.equal(fds.length, 0, 'a reply carries no descriptor')
    return JSON.parse(testFrameBody(frame).toString())
  }
  const request = (obj: object): Buffer => encodeTestFrame(JSON.stringify(obj), 1)

  // 1. A regular file: the child reads it.
  const filePath = path.join(dir, 'data.txt')
  const content = `regular file from ${process.pid}\n`.repeat(20)
  fs.writeFileSync(filePath, content)
  const fileFd = fs.openSync(filePath, 'r')
  await channel.send(request({ kind: 'file', length: content.length + 16 }), [fileFd])
  fs.closeSync(fileFd)
  const file = await nextReply()
  t.same(file.info, { kind: 'file' }, 'the child sees a regular file')
  t.equal(file.content, content, 'the child read the file through the received descriptor')

  // 2. A pipe (a FIFO, unlinked once open): the child writes, we read the other end.
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  fs.unlinkSync(fifo)
  t.equal(binding.fdInfo(writeFd).kind, 'fifo')
  const pipeReader = new net.Socket({ fd: readFd, readable: true, writable: false })
  let piped = ''
  pipeReader.setEncoding('utf8')
  pipeReader.on('data', (chunk: string) => { piped += chunk })
  const pipeClosed = once(pipeReader, 'close')
  const text = `written by the receiver into a pipe ${Date.now()}\n`
  await channel.send(request({ kind: 'pipe', text }), [writeFd])
  fs.closeSync(writeFd) // the copy in flight keeps the pipe's write side open
  const pipe = await nextReply()
  t.same(pipe.info, { kind: 'fifo' }, 'the child sees a pipe')
  t.equal(pipe.written, Buffer.byteLength(text))
  await pipeClosed // EOF: every copy of the write end is closed, the child's too
  t.equal(piped, text, 'what the child wrote into the pipe came out of our end')

  // 3. An accepted TCP socket: the child talks to our client on it.
  const server = net.createServer({ pauseOnConnect: true })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const serverConnection = once(server, 'connection')
  const client = net.connect(port, '127.0.0.1')
  await once(client, 'connect')
  const [serverSide] = await serverConnection as [net.Socket]
  const tcpFd: number = (serverSide as any)._handle.fd
  await channel.send(request({ kind: 'tcp' }), [tcpFd])
  const tcp = await nextReply()
  t.same(tcp.info, { kind: 'socket', family: 'inet', type: 'stream', listening: false }, 'the child sees a TCP socket')
  t.equal(tcp.remotePort, client.localPort, 'remotePort is the client\'s port')
  t.equal(tcp.localPort, port, 'localPort is the server\'s port')
  t.equal(tcp.remoteAddress, '127.0.0.1')
  // Our copy goes through libuv's own close (never end(): that would send FIN).
  const serverSideClosed = once(serverSide, 'close')
  serverSide.destroy()
  await serverSideClosed
  const serverClosed = once(server, 'close')
  server.close()
  await serverClosed

  client.setEncoding('utf8')
  let answer = ''
  client.on('data', (chunk: string) => {
    answer += chunk
    if (answer.endsWith('\n')) client.end()
  })
  const clientClosed = once(client, 'close')
  client.write('ping from the test\n')
  await clientClosed
  t.equal(answer, 'pong ping from the test\n', 'the child answered on the TCP connection')
  const tcpClosed = await child.next('tcp-closed')
  t.equal(tcpClosed.got, 'ping from the test\n')

  // Closing our end: the child sees 'end', closes, reports, exits by itself.
  const closed = once(channel, 'close')
  channel.close()
  await closed
  const end = await child.next('end')
  t.equal(end.fds, start.fds, 'the child has as many descriptors at the end as at the start')
  const { code } = await child.exit
  t.equal(code, 0, 'the child exited cleanly')
  t.equal(child.stderr, '', 'the child wrote nothing to stderr')
})
