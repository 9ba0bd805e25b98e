// Who may hand off: the socket file's mode, and above all the peer's
// credentials from the kernel (a second uid is refused before any frame of
// it is read; an allowlist lets it in; an abstract name has only that check).
// The sender is the hand-built one (test/fixtures/receiver-sender.js): it runs
// under another uid through setpriv and reports whether its channel got a
// HELLO or an ERROR, which the library's sender does not show.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { requestThrough, startReceiver, startSender, stopChild, tmpDir } from './helpers.js'

const NOBODY = 65534
// A sender under a second uid: started by root through setpriv.
const skipOtherUid = prerequisite(t, { name: 'root', available: process.getuid?.() === 0, install: 'run the tests as root' }) ||
  prerequisite(t, { name: 'setpriv', available: hasCommand('setpriv'), install: 'apt-get install util-linux' })

t.test('the socket file is created with mode 0600 by default', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const stats = fs.statSync(sockPath)
  t.ok(stats.isSocket())
  t.equal(stats.mode & 0o777, 0o600, 'owner only')
  await stopChild(t, receiver, 'close')
  t.notOk(fs.existsSync(sockPath), 'close() removes the socket file')
})

t.test('a sender running as another uid is refused', { skip: skipOtherUid }, async (t) => {
  checkFdLeaks(t)
  // Everyone may reach the socket (0755 directory, 0666 file: connecting
  // takes search permission on the directory, not write, which would let
  // others replace the socket and is refused): what refuses the stranger is
  // the credential check, not the file mode.
  const sockPath = path.join(tmpDir(t, 0o755), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, mode: 0o666 })
  const receiverFds = receiver.fds()
  const stranger = await startSender(t, { path: sockPath }, { asUser: NOBODY })
  const refused = await receiver.event('untrustedPeer')
  t.same({ uid: refused.peer.uid, gid: refused.peer.gid }, { uid: NOBODY, gid: NOBODY }, 'the kernel\'s credentials of the stranger')
  t.equal(refused.peer.pid, stranger.pid, 'its pid from SO_PEERCRED')
  t.equal(refused.code, 'ERR_HANDOFF_UNTRUSTED_SENDER')
  await stranger.event('channel-close')
  t.equal(stranger.seen('ready').length, 0, 'its channel closed without a HELLO: nothing was exchanged')
  // The receiver closes at once, with the stranger's HELLO unread: the
  // kernel resets the stranger's channel, and the ERROR written before that
  // is still read first (the channel reads queued data before the reset).
  t.same(stranger.seen('error-frame').map((e: { reason: string }) => e.reason), ['unauthorized'], 'ERROR "unauthorized", read before the reset')
  t.equal(receiver.seen('peer').length, 0, 'no peer event for it')
  const stats = (await receiver.request('stats')).stats
  t.equal(stats.peers, 0)
  t.equal(stats.untrustedPeers, 1)
  t.equal(receiver.fds(), receiverFds, 'its channel is closed in the receiver')

  // The receiver's own uid still gets through.
  const friend = await startSender(t, { path: sockPath })
  await friend.event('ready')
  t.equal((await requestThrough(friend)).pid, receiver.pid, 'served')
  await receiver.request('idle')
  await stopChild(t, stranger)
  await stopChild(t, friend)
  await stopChild(t, receiver, 'close')
})

t.test('an allowlisted gid lets the other uid in', { skip: skipOtherUid }, async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t, 0o755), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, mode: 0o666, allow: { uids: [process.getuid?.()], gids: [NOBODY] } })
  const sender = await startSender(t, { path: sockPath }, { asUser: NOBODY, context: { via: 'gid' } })
  await sender.event('ready')
  const peer = await receiver.event('peer')
  t.equal(peer.peer.uid, NOBODY)
  const info = await requestThrough(sender)
  t.same(info.sender.uid, NOBODY, 'the handoff info names the sender\'s uid')
  t.same(info.context, { via: 'gid' })
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('an allowlisted uid lets that uid in; the list replaces the default (the receiver\'s own uid is refused)', { skip: skipOtherUid }, async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t, 0o755), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, mode: 0o666, allow: { uids: [NOBODY] } })
  const sender = await startSender(t, { path: sockPath }, { asUser: NOBODY, context: { via: 'uid' } })
  await sender.event('ready')
  t.equal((await receiver.event('peer')).peer.uid, NOBODY, 'the listed uid completes its HELLO')
  t.same((await requestThrough(sender)).context, { via: 'uid' }, 'and hands off')
  const own = await startSender(t, { path: sockPath })
  t.equal((await receiver.event('untrustedPeer')).peer.uid, process.getuid?.(), 'a uid not in the list is refused, the receiver\'s own too')
  await own.event('channel-close')
  await receiver.request('idle')
  await stopChild(t, own)
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('an abstract name: no file, the credential check is the only fence', {
  skip: process.platform !== 'linux' ? 'abstract socket names are Linux only' : false
}, async (t) => {
  checkFdLeaks(t)
  const abstract = `fastify-handoff-test-${process.pid}-${Date.now()}`
  const receiver = await startReceiver(t, 'raw', { abstract })
  const sender = await startSender(t, { abstract }, { context: 'abstract' })
  await sender.event('ready')
  t.equal((await requestThrough(sender)).context, 'abstract', 'served through the abstract name')
  // The stranger's half is a subtest of its own, so that without a second
  // uid it is recorded as a skip rather than dropped in silence.
  await t.test('another uid is refused at the abstract name', { skip: skipOtherUid }, async (t) => {
    const stranger = await startSender(t, { abstract }, { asUser: NOBODY })
    t.equal((await receiver.event('untrustedPeer')).peer.uid, NOBODY, 'another uid is refused')
    await stranger.event('channel-close')
    t.equal(stranger.seen('ready').length, 0, 'without a HELLO')
    await stopChild(t, stranger)
  })
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})
