// A receiver that sends descriptors with a frame that declares none (here its
// ACCEPT): PROTOCOL.md §9 says to close them and process the frame as if none
// had come. Dropping the frame instead would lose the verdict: the sender
// would then answer, at deadline + grace, a connection the receiver owns.
import t from 'tap'
import http from 'node:http'
import path from 'node:path'
import { Sender, type HandoffResult } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { listenClosing, parseResponse, rawClient, startFaulty, stopChild, tmpDir } from './helpers.js'

t.test('an ACCEPT carrying descriptors: they are closed and the ACCEPT is honoured', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = await startFaulty(t, { path: sockPath, mode: 'send-fds' })
  // A long verdict timeout: an ACCEPT that was dropped would show as a hang of the handoff.
  const sender = new Sender({ targets: { chat: { path: sockPath, timeout: 20000 } } })
  let settle: (r: HandoffResult) => void = () => {}
  const settled = new Promise<HandoffResult>((resolve) => { settle = resolve })
  const server = http.createServer((req, res) => {
    void sender.handoffRequest(req, res, { target: 'chat' }).then(settle)
  })
  const port = await listenClosing(t, server, sender)
  await sender.ready('chat')
  const client = rawClient(port)
  await client.connected
  client.socket.write('GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const verdict = await sibling.event('verdict')
  t.equal(verdict.type, 'accept', 'the receiver accepted, three descriptors riding on its ACCEPT')
  const result = await settled
  t.equal(result.outcome, 'accepted', 'the sender read the ACCEPT')
  t.equal(result.handedOff, true)
  const answer = await client.ended
  const response = parseResponse(answer)
  t.equal(response?.status, 200)
  t.equal(JSON.parse(response?.body ?? '{}').servedBy, sibling.pid, 'served by the receiver')
  t.equal(response?.length, answer.length, 'and by nobody else')
  client.socket.destroy()
  await client.closed
  await sender.close()
  await stopChild(t, sibling, 'exit')
})
