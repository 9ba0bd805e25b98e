// One owner at a time, between the library's own sender (a web app in a
// child process, test/fixtures/receiver-webapp.js) and its own receiver
// (test/fixtures/receiver-raw.js, which writes a line to each client it
// serves). Each process is frozen with SIGSTOP to hold it at the moment
// that matters, so the order of events is forced, not raced.
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { clockPast } from '../sender/helpers.js'
import { rawClient, startPair, stopChild } from './helpers.js'

const HEAD = 'GET /own HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'

t.test('the receiver touches nothing before its ACCEPT is in the channel: the sender gone, the client gets nothing from it', async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp } = await startPair(t, 'raw')
  receiver.proc.kill('SIGSTOP')
  const client = rawClient(webapp.port)
  client.socket.write(HEAD)
  await webapp.event('sent') // the HANDOFF is in the receiver's channel
  webapp.kill() // its ACCEPT can no longer be written
  await webapp.exited
  receiver.proc.kill('SIGCONT')
  await receiver.event('warn', (m) => /ACCEPT could not be written/.test(m.msg))
  t.pass('the receiver adopted it, and its ACCEPT failed')
  t.equal((await client.ended).length, 0, 'not one byte reached the client from the receiver')
  await client.closed
  const { stats } = await receiver.request('idle')
  t.same({ total: stats.total, live: stats.live }, { total: 0, live: 0 }, 'never served, nothing left open')
  await stopChild(t, receiver, 'close')
})

t.test('at deadline + grace the sender first reads what the channel holds: an ACCEPT already there wins, no 503', async (t) => {
  checkFdLeaks(t)
  const timeout = 5000
  const grace = 1000
  const { receiver, webapp } = await startPair(t, 'raw', {}, { timeout, grace })
  receiver.proc.kill('SIGSTOP')
  const client = rawClient(webapp.port)
  client.socket.write(HEAD)
  const sent = await webapp.event('sent')
  // The web app is frozen from before the deadline until after deadline +
  // grace; meanwhile the receiver ACCEPTs well before the deadline.
  webapp.proc.kill('SIGSTOP')
  receiver.proc.kill('SIGCONT')
  const line = await client.waitFor((d) => d.includes('\n'))
  t.equal(JSON.parse(line.subarray(0, line.indexOf('\n')).toString()).pid, receiver.pid, 'accepted and served by the receiver')
  await clockPast(sent.at + timeout + grace)
  webapp.proc.kill('SIGCONT')
  t.match(await webapp.event('result'), { outcome: 'accepted', handedOff: true }, 'the sender read the ACCEPT before giving the handoff up')
  client.socket.end()
  const received = (await client.ended).toString('latin1')
  await client.closed
  t.equal(received, `${line.subarray(0, line.indexOf('\n') + 1).toString('latin1')}${HEAD}`, 'the receiver\'s answer and echo only: no 503 from the web app')
  await receiver.request('idle')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})
