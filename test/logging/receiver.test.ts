// Logging on the sibling's side (issue 16, item 2): through the pino-shaped
// logger it was given, a REJECT is one line with its reason and the
// handoff's id (the id the web app's own failure line names), and an
// accepted handoff logs nothing at info or above, one line at debug.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { captureLogger, forkFixture, offerRaw, openRaw, stopChild, tmpDir, upgradeApp, type Message } from '../sender/helpers.js'

const AT_INFO_OR_ABOVE = new Set(['info', 'warn', 'error', 'fatal'])

t.test('a REJECT: one line with the reason and the handoff id; an ACCEPT: nothing at info, one debug line', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'chat.sock')
  // The raw receiver, at most one connection, every log line reported to us.
  const sibling = forkFixture(t, 'receiver-raw.js', { path: sockPath, maxConnections: 1, logLines: true }, 'sibling(raw)')
  await sibling.event('ready')
  const senderLog = captureLogger()
  const app = await upgradeApp(t, { targets: { chat: { path: sockPath } }, log: senderLog.logger }, 'chat')
  await app.sender.ready('chat')
  await sibling.event('log', (m) => m.msg === 'sender connected')
  const before = sibling.seen('log').length

  const held = await openRaw(app.port, '/raw')
  t.equal(held.status, 200, 'the first one is served (the receiver is at its limit now)')
  t.equal((await offerRaw(app.port, '/raw')).status, 503, 'the second one is REJECTed "capacity" and falls back')
  const [accepted, rejected] = await app.settled(2)
  t.equal(accepted.outcome, 'accepted')
  t.equal(rejected.outcome, 'rejected')
  // The REJECT's line is written before the REJECT itself: here by the time the sender has its verdict.
  await sibling.event('log', (m) => m.msg === 'handoff rejected')

  const during = sibling.seen('log').slice(before)
  const loud = during.filter((l: Message) => AT_INFO_OR_ABOVE.has(String(l.level)))
  t.equal(loud.length, 1, 'one line at info or above: the REJECT', { lines: during })
  t.match(loud[0], { level: 'info', msg: 'handoff rejected', fields: { id: rejected.handoffId, reason: 'capacity', retryable: true, peer: { pid: process.pid } } },
    'with its reason and the handoff id, and the sender it came from')
  t.match(during.filter((l: Message) => l.level === 'debug'), [{ msg: 'handoff accepted', fields: { id: accepted.handoffId } }], 'the ACCEPT at debug only')
  t.match(senderLog.lines.filter((l) => l.level === 'warn'), [{ outcome: 'rejected', handoffId: rejected.handoffId, err: { reason: 'capacity' } }],
    'the web app\'s one line for it names the same handoff id')

  held.client.socket.end()
  await held.client.closed
  await sibling.request('idle')
  await app.sender.close()
  await sibling.event('peerClose')
  await stopChild(t, sibling)
})
