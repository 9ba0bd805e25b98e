// The Unix socket itself: listening (live path refused, stale path replaced,
// anything that is not a socket left alone, mode 0600 by default, abstract
// names), closing (the file goes), connecting (typed system errors).
import t, { type Test } from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { connectUnix, listenUnix, type UnixListener } from '../../plugin/unix.js'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { FixtureProcess, once } from '../fixtures/channel-common.js'
import { tmpDir } from '../helpers/tmp.js'

function tempDir (t: Test): string {
  return tmpDir(t, 'handoff-unix-')
}

async function closeListener (listener: UnixListener): Promise<void> {
  const closed = once(listener, 'close')
  listener.close()
  await closed
}

/** Connects, checks who answered (by the accepted side's peer credentials), closes both. */
async function connectsTo (t: Test, listener: UnixListener, what: string): Promise<void> {
  const accepted = once(listener, 'connection')
  const fd = await connectUnix(listener.address)
  const [conn] = await accepted as [number]
  t.equal(binding.peerCredentials(conn).pid, process.pid, `${what}: connected, the accepted side sees our pid`)
  t.equal(binding.peerCredentials(fd).pid, process.pid, `${what}: and the connecting side sees the listener's`)
  binding.closeFd(conn)
  binding.closeFd(fd)
}

function systemErrorShape (t: Test, err: any, code: string, syscall: string, what: string): void {
  t.type(err, Error, `${what}: an Error`)
  t.equal(err.code, code, `${what}: code ${code}`)
  t.equal(err.syscall, syscall, `${what}: syscall ${syscall}`)
  t.type(err.errno, 'number', `${what}: errno is a number`)
  t.ok(err.errno < 0, `${what}: errno is negative, as Node's (${err.errno})`)
  t.equal(os.constants.errno[code as keyof typeof os.constants.errno], -err.errno, `${what}: errno matches ${code}`)
}

t.test('listen creates the socket file with mode 0600 by default, close removes it', async (t) => {
  checkFdLeaks(t)
  const dir = tempDir(t)
  const file = path.join(dir, 'default.sock')
  const listener = await listenUnix(file)
  const st = fs.statSync(file)
  t.ok(st.isSocket(), 'a socket file')
  t.equal(st.mode & 0o777, 0o600, 'mode 0600')
  await connectsTo(t, listener, 'default mode')
  await closeListener(listener)
  t.notOk(fs.existsSync(file), 'close removed the file')

  const custom = path.join(dir, 'custom.sock')
  const group = await listenUnix(custom, { mode: 0o660 })
  t.equal(fs.statSync(custom).mode & 0o777, 0o660, 'an explicit mode (0660) is applied')
  await closeListener(group)
  t.notOk(fs.existsSync(custom))
})

t.test('a path with a live listener in another process is refused, and that listener keeps working', async (t) => {
  checkFdLeaks(t)
  const file = path.join(tempDir(t), 'live.sock')
  const other = new FixtureProcess('channel-listener.js', { args: [file] })
  t.teardown(() => { if (!other.exited) other.child.kill('SIGKILL') })
  await other.next('listening')
  const inode = fs.statSync(file).ino
  await t.rejects(listenUnix(file), { code: 'ERR_HANDOFF_PATH_IN_USE' }, 'ERR_HANDOFF_PATH_IN_USE')
  t.equal(fs.statSync(file).ino, inode, 'the live socket file was left in place')
  await other.next('connection') // the liveness probe
  const fd = await connectUnix(file)
  const conn = await other.next('connection')
  t.equal(conn.peer, process.pid, 'the other process still accepts on its path')
  binding.closeFd(fd)
  const { code } = await other.finish()
  t.equal(code, 0)
  t.notOk(fs.existsSync(file), 'its own close removed its file')
})

t.test('a stale socket file (its process was killed) is replaced', async (t) => {
  checkFdLeaks(t)
  const file = path.join(tempDir(t), 'stale.sock')
  const other = new FixtureProcess('channel-listener.js', { args: [file] })
  await other.next('listening')
  other.child.kill('SIGKILL')
  const { signal } = await other.exit
  t.equal(signal, 'SIGKILL')
  t.ok(fs.statSync(file).isSocket(), 'the dead process left its socket file')
  await t.rejects(connectUnix(file), { code: 'ECONNREFUSED', syscall: 'connect' }, 'nobody answers on it')
  const listener = await listenUnix(file)
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  await connectsTo(t, listener, 'the replacement')
  await closeListener(listener)
  t.notOk(fs.existsSync(file))
})

t.test('a path that is not a socket is never removed', async (t) => {
  checkFdLeaks(t)
  const dir = tempDir(t)
  const file = path.join(dir, 'precious.txt')
  fs.writeFileSync(file, 'keep me')
  const err = await listenUnix(file).then(async (listener) => {
    await closeListener(listener)
    return null // it took the path over: fails below
  }, (e: unknown) => e)
  systemErrorShape(t, err, 'EADDRINUSE', 'bind', 'a regular file at the path')
  t.equal(fs.readFileSync(file, 'utf8'), 'keep me', 'the regular file is still there, untouched')
  const sub = path.join(dir, 'a-directory')
  fs.mkdirSync(sub)
  await t.rejects(listenUnix(sub), { code: 'EADDRINUSE' }, 'a directory at the path: refused')
  t.ok(fs.statSync(sub).isDirectory(), 'the directory is still there')
})

t.test('abstract names (Linux): no file, in use while listened on, free after close', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  checkFdLeaks(t)
  const name = `fastify-handoff-test-${process.pid}-${Date.now()}`
  const before = fs.readdirSync(process.cwd())
  const listener = await listenUnix({ abstract: name })
  t.same(fs.readdirSync(process.cwd()), before, 'no file was created')
  await connectsTo(t, listener, 'abstract name')
  await t.rejects(listenUnix({ abstract: name }), { code: 'ERR_HANDOFF_PATH_IN_USE' }, 'a second listener is refused')
  await closeListener(listener)
  await t.rejects(connectUnix({ abstract: name }), { code: 'ECONNREFUSED', errno: -os.constants.errno.ECONNREFUSED, syscall: 'connect' },
    'after close nobody answers')
  const again = await listenUnix({ abstract: name })
  await connectsTo(t, again, 'the same name, listened on again')
  await closeListener(again)
})

t.test('connect: a missing path, a stale socket, a name too long', async (t) => {
  checkFdLeaks(t)
  const dir = tempDir(t)
  const missing = await connectUnix(path.join(dir, 'nobody.sock')).then(() => null, (e: unknown) => e)
  systemErrorShape(t, missing, 'ENOENT', 'connect', 'a missing path')

  const file = path.join(dir, 'stale.sock')
  const listener = await listenUnix(file)
  // Close only the descriptor, keeping the file: a stale socket.
  fs.renameSync(file, file + '.keep')
  await closeListener(listener)
  fs.renameSync(file + '.keep', file)
  const refused = await connectUnix(file).then(() => null, (e: unknown) => e)
  systemErrorShape(t, refused, 'ECONNREFUSED', 'connect', 'a stale socket file')

  const long = path.join(dir, 'x'.repeat(120))
  const tooLong = await connectUnix(long).then(() => null, (e: unknown) => e)
  systemErrorShape(t, tooLong, 'ENAMETOOLONG', 'connect', 'a path longer than sun_path')
  const tooLongListen = await listenUnix(long).then(() => null, (e: unknown) => e)
  systemErrorShape(t, tooLongListen, 'ENAMETOOLONG', 'bind', 'listening on it')
})
