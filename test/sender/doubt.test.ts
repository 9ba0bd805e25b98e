// The one case where nobody can say who owns a connection: the sender had to
// drop the channel (here, the receiver wrote garbage) with a handoff in
// flight, so a verdict may have been lost unread. The sender then closes its
// copy without writing anything (PROTOCOL.md §7, sender 8): the client may
// lose its connection, but never gets two answers from two processes.
//
// The receiver is the hand-built one (test/fixtures/sibling-faulty.js, mode
// 'garbage'): the library's own receiver never writes bytes that are no frame.
import t, { type Test } from 'tap'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { Sender, type HandoffResult, type TargetOptions } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { listenClosing, rawClient, startFaulty, stopChild, tmpDir, type Child } from './helpers.js'

interface Setup {
  sibling: Child
  port: number
  settled: Promise<HandoffResult>
}

/** A faulty receiver in `mode`, and a node:http app that hands its first upgrade off to it. */
async function setup (t: Test, mode: string, options: Partial<TargetOptions> = {}): Promise<Setup> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startFaulty(t, { path: sockPath, mode })
  const sender = new Sender({ targets: { chat: { path: sockPath, reconnect: { min: 20, max: 200 }, ...options } } })
  let settle: (r: HandoffResult) => void = () => {}
  const settled = new Promise<HandoffResult>((resolve) => { settle = resolve })
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void sender.handoffUpgrade(req, socket, head, { target: 'chat' }).then(settle)
  })
  const port = await listenClosing(t, server, sender)
  await sender.ready('chat')
  await sibling.event('peer')
  return { sibling, port, settled }
}

/** One upgrade through the app: the handoff's result, and the client's connection closed unanswered. */
async function offerInDoubt (t: Test, { sibling, port, settled }: Setup): Promise<void> {
  const siblingFds = (await sibling.request('fds')).count
  const client = rawClient(port)
  await client.connected
  client.socket.write('GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
  const result = await settled
  t.equal(result.outcome, 'doubt')
  t.equal(result.fallback, 'none', 'no fallback: nothing written')
  t.equal(result.handedOff, false)
  await sibling.event('peerClose') // we dropped the channel
  await sibling.request('release') // the receiver's copy goes too
  const received = await client.ended
  t.equal(received.length, 0, 'the client got no bytes from anyone')
  client.socket.destroy()
  await client.closed
  await sibling.event('peer') // the sender connected again
  t.equal((await sibling.request('fds')).count, siblingFds, 'nothing left open in the receiver')
}

t.test('a receiver that breaks the framing with a handoff in flight: doubt, our copy closed unanswered', async (t) => {
  checkFdLeaks(t)
  const faulty = await setup(t, 'garbage')
  await offerInDoubt(t, faulty)
  await stopChild(t, faulty.sibling, 'exit')
})

t.test('a receiver that stalls in the middle of a verdict: ERROR "timeout" after frameTimeout, doubt, our copy closed unanswered', async (t) => {
  checkFdLeaks(t)
  const faulty = await setup(t, 'stall', { frameTimeout: 200 })
  await offerInDoubt(t, faulty)
  const error = await faulty.sibling.event('error-frame')
  t.equal(error.reason, 'timeout', 'the receiver was told why')
  t.match(error.message, /did not complete it within 200 ms/)
  await stopChild(t, faulty.sibling, 'exit')
})
