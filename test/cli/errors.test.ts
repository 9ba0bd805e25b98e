// What the tool says, and the exit status it ends with, when there is no
// receiver to ask: no such socket, a stale socket file, permission denied
// (the socket's directory, and a receiver that refuses this uid's
// credentials, both as uid 65534 through setpriv), and sockets served by
// something that is not a fastify-handoff receiver (garbage, silence, an
// immediate close, a receiver too old to answer). Every server here is real;
// none leaves a descriptor behind.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { tmpDir } from '../helpers/tmp.js'
import { startReceiver } from '../receiver/helpers.js'
import { encodeHello } from '../../plugin/protocol/index.js'
import { cli, fails, plainServer } from './helpers.js'

const NOBODY = 65534
const OWN_UID = process.getuid?.() ?? -1

function asNobody (t: Test): string | false {
  return prerequisite(t, { name: 'root', available: OWN_UID === 0, install: 'run the tests as root: the tool runs as uid 65534 through setpriv' }) ||
    prerequisite(t, { name: 'setpriv', available: hasCommand('setpriv'), install: 'apt-get install util-linux' })
}

t.test('no such socket (ENOENT): exit 3', async (t) => {
  checkFdLeaks(t)
  const missing = path.join(tmpDir(t), 'nothing-here.sock')
  await fails(t, ['status', missing], 3, 'ERR_HANDOFF_STATUS_NO_SOCKET', /no such socket: .*nothing-here\.sock does not exist \(ENOENT\)/)
  await fails(t, ['check', missing], 3, 'ERR_HANDOFF_STATUS_NO_SOCKET', /ENOENT/)
  await fails(t, ['check', '@fastify-handoff-no-such-name'], 3, 'ERR_HANDOFF_STATUS_NOT_LISTENING', /nothing listens at @fastify-handoff-no-such-name \(ECONNREFUSED\)/)
})

t.test('a stale socket file (nobody listens): exit 3', async (t) => {
  const skip = prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' })
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  const stale = path.join(tmpDir(t), 'stale.sock')
  // Bound and closed without listen(2) or unlink: what a crashed receiver leaves.
  const made = spawnSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()', stale])
  t.equal(made.status, 0)
  t.ok(fs.lstatSync(stale).isSocket())
  await fails(t, ['status', stale], 3, 'ERR_HANDOFF_STATUS_NOT_LISTENING', /nothing listens at .*stale\.sock \(ECONNREFUSED\): a stale socket file/)
})

t.test('permission denied on the socket\'s directory (EACCES), as uid 65534: exit 4', async (t) => {
  const skip = asNobody(t)
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock') // 0700, root's
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  await fails(t, ['status', sockPath], 4, 'ERR_HANDOFF_STATUS_DENIED', /permission denied: this process may not connect to .*r\.sock \(EACCES\)/, { asUser: NOBODY })
  t.equal((await receiver.request('stats')).stats.untrustedPeers, 0, 'it never reached the receiver')
  const ok = await cli(['check', sockPath])
  t.equal(ok.code, 0, 'the receiver\'s own uid is answered')
})

t.test('a receiver that does not trust this uid, as uid 65534: exit 4', async (t) => {
  const skip = asNobody(t)
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  // Anyone may reach the socket; only the receiver's allowlist (its own uid) keeps them out.
  const sockPath = path.join(tmpDir(t, 'cli-open-', 0o755), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, mode: 0o666, sharedDirectory: 'warn' })
  const fds = receiver.fds()
  await fails(t, ['status', sockPath], 4, 'ERR_HANDOFF_STATUS_UNTRUSTED',
    new RegExp(`permission denied: the receiver at .*r\\.sock does not trust this process \\(uid ${NOBODY}, gid ${NOBODY};`), { asUser: NOBODY })
  const untrusted = await receiver.event('untrustedPeer')
  t.match(untrusted, { peer: { uid: NOBODY }, code: 'ERR_HANDOFF_UNTRUSTED_SENDER' })
  t.equal((await receiver.request('stats')).stats.untrustedPeers, 2, 'both queries dropped, counted as untrusted peers')
  t.equal(receiver.seen('peer').length, 0)
  t.equal(await fdsBackTo(receiver.pid, fds, 10000), fds, 'the receiver holds no descriptor of the untrusted queries')
})

t.test('not a fastify-handoff receiver: garbage, silence, a close, a HELLO and nothing more: exit 5', async (t) => {
  checkFdLeaks(t)
  const garbage = await plainServer(t, (socket) => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'))
  await fails(t, ['status', garbage], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER',
    /plain\.sock is not a fastify-handoff receiver: it answered bytes that are not a fastify-handoff frame/)

  const silent = await plainServer(t, () => {})
  await fails(t, ['check', silent, '--timeout', '300'], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER',
    /is not a fastify-handoff receiver: no answer within 300 ms/)

  const closes = await plainServer(t, (socket) => socket.destroy())
  await fails(t, ['check', closes], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /is not a fastify-handoff receiver: it closed the connection without a word/)

  const short = await plainServer(t, (socket) => socket.end(Buffer.from('HO\x01')))
  await fails(t, ['check', short], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /is not a fastify-handoff receiver: its answer broke off/)

  // A receiver from before status queries: its HELLO, then a close on the unknown type.
  const old = await plainServer(t, (socket) => {
    socket.write(encodeHello({ role: 'receiver', pid: process.pid }))
    socket.once('data', () => socket.end())
  })
  await fails(t, ['check', old], 5, 'ERR_HANDOFF_STATUS_UNSUPPORTED',
    /the fastify-handoff receiver at .*plain\.sock does not answer status requests \(it sent its HELLO, then closed the connection without a STATUS_REPORT\)/)

  // A sender's HELLO is no receiver's.
  const sender = await plainServer(t, (socket) => socket.write(encodeHello({ role: 'sender', pid: process.pid })))
  await fails(t, ['check', sender], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /its first frame is a HELLO of a sender, not a receiver's HELLO/)
})

t.test('usage errors: exit 2, with the usage', async (t) => {
  for (const args of [[], ['status'], ['stats', '/x'], ['status', '/x', '--count', '2'], ['watch', '/x', '--count', '0'], ['check', '/x', '--bogus']]) {
    const run = await cli(args)
    t.equal(run.code, 2, `${JSON.stringify(args)}: exit 2`)
    t.match(run.stderr, /Usage: fastify-handoff <command> PATH/)
  }
  const help = await cli(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /status PATH/)
  const version = await cli(['--version'])
  t.match(version.stdout, /^fastify-handoff \d+\.\d+\.\d+/)
})
