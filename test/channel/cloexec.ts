// Close-on-exec: a received descriptor must not leak into a child process the
// receiver spawns (there, a client's socket would outlive the receiver's close
// and hold back its FIN).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { Channel } from '../../plugin/channel.js'
import { listenUnix } from '../../plugin/unix.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { FixtureProcess, createTestFramer, encodeTestFrame, once } from '../fixtures/channel-common.js'
import { tmpDir } from '../helpers/tmp.js'

t.test('received descriptors are close-on-exec: a child of the receiver inherits none', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'handoff-cloexec-')
  const sockPath = path.join(dir, 'channel.sock')
  const listener = await listenUnix(sockPath)
  const accepted = once(listener, 'connection')
  const child = new FixtureProcess('channel-cloexec-receiver.js', { args: [sockPath] })
  t.teardown(() => { if (!child.exited) child.child.kill('SIGKILL') })
  const [fd] = await accepted as [number]
  const listenerClosed = once(listener, 'close')
  listener.close()
  await listenerClosed
  const channel = new Channel(fd, createTestFramer())
  channel.on('error', (err) => t.fail(`channel error: ${err.message}`))

  const marker = path.join(dir, `cloexec-marker-${process.pid}.txt`)
  fs.writeFileSync(marker, 'marker')
  const fileFd = fs.openSync(marker, 'r')
  const server = net.createServer({ pauseOnConnect: true })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const serverConnection = once(server, 'connection')
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(client, 'connect')
  const [serverSide] = await serverConnection as [net.Socket]
  const tcpFd: number = (serverSide as any)._handle.fd
  const tcpLink = fs.readlinkSync(`/proc/self/fd/${tcpFd}`)

  await channel.send(encodeTestFrame('two descriptors', 2), [fileFd, tcpFd])
  fs.closeSync(fileFd)
  const got = await child.next('received')
  t.equal(got.count, 2, 'two descriptors arrived')
  t.equal(got.links.file, marker, 'the receiver has the file')
  t.equal(got.links.tcp, tcpLink, 'and the very TCP socket')
  t.same(got.cloexec, { file: true, tcp: true }, 'both are close-on-exec (fdinfo flags)')
  t.notMatch(got.lsPlain, marker, 'a child of the receiver does not see the file')
  t.notMatch(got.lsPlain, tcpLink, 'nor the TCP socket')
  t.match(got.lsPassed, marker, 'control: passed on purpose, the child does see it')
  t.notOk(got.catFds.includes(marker) || got.catFds.includes(tcpLink), 'a long-lived child holds neither', { catFds: got.catFds })
  await child.next('tcp-closed')

  // Our copy goes too; the receiver's child still runs, yet FIN reaches the client.
  const serverSideClosed = once(serverSide, 'close')
  serverSide.destroy()
  await serverSideClosed
  await new Promise((resolve) => server.close(resolve))
  if (!got.catFds.includes(tcpLink)) {
    const clientEnded = once(client, 'end')
    client.resume()
    await clientEnded
    t.pass('the client got FIN while the receiver\'s child was still running')
  }
  t.equal(child.messages.filter((m: any) => m.event === 'cat-exit').length, 0, 'the child had not exited then')
  const clientClosed = once(client, 'close')
  client.destroy()
  await clientClosed

  const catExit = child.next('cat-exit')
  const channelClosed = once(channel, 'close') // the receiver closes, our side ends
  const exit = child.finish()
  t.equal((await catExit).code, 0, 'the receiver\'s child exited once told to')
  t.equal((await exit).code, 0, 'the receiver exited cleanly')
  await channelClosed
  t.equal(child.stderr, '', 'the receiver wrote nothing to stderr')
})
