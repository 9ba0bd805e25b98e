// Every function the addon exports checks its arguments: a missing one, one
// of the wrong type or one too many is a TypeError naming the call's
// signature and what was given, never a silent 0 (fd 0 is stdin: closeFd(0)
// would close it).
import t, { type Test } from 'tap'
import fs from 'node:fs'
import { binding } from '../../plugin/native.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

type Call = () => unknown

/** Each call throws a TypeError whose message names `usage` and matches `what`. */
function rejects (t: Test, calls: Array<[string, Call, RegExp]>, usage: string): void {
  for (const [label, call, what] of calls) {
    let caught: unknown
    try {
      call()
    } catch (err) {
      caught = err
    }
    t.type(caught, TypeError, `${label}: a TypeError`)
    t.equal((caught as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_TYPE', `${label}: Node's code for it`)
    t.match((caught as Error | undefined)?.message, usage, `${label}: names the signature`)
    t.match((caught as Error | undefined)?.message, what, `${label}: says what was wrong`)
  }
}

const b = binding as unknown as Record<string, (...args: unknown[]) => unknown>

t.test('closeFd(undefined) is a TypeError, and stdin stays open', async (t) => {
  checkFdLeaks(t)
  const before = fs.fstatSync(0)
  rejects(t, [
    ['undefined', () => b.closeFd(undefined), /got undefined/],
    ['no argument', () => b.closeFd(), /expected 1 argument, got 0/],
    ['a string', () => b.closeFd('0'), /got a string/],
    ['null', () => b.closeFd(null), /got null/],
    ['a fraction', () => b.closeFd(1.5), /got the number 1\.5/],
    ['a negative number', () => b.closeFd(-1), /got the number -1/],
    ['beyond 32 bits', () => b.closeFd(2 ** 32), /got the number 4294967296/],
    ['two arguments', () => b.closeFd(100000, 1), /expected 1 argument, got 2/]
  ], 'closeFd(fd: descriptor)')
  const after = fs.fstatSync(0)
  t.equal(after.ino, before.ino, 'stdin is still the same open file')
})

t.test('the descriptor functions: fdInfo, peerCredentials, setBufferSizes', async (t) => {
  checkFdLeaks(t)
  const [x, y] = binding.socketpair()
  t.teardown(() => { binding.closeFd(x); binding.closeFd(y) })
  rejects(t, [
    ['undefined', () => b.fdInfo(undefined), /fd must be a descriptor .* got undefined/],
    ['an object', () => b.fdInfo({}), /got an object/],
    ['two arguments', () => b.fdInfo(x, x), /got 2/]
  ], 'fdInfo(fd: descriptor)')
  rejects(t, [
    ['undefined', () => b.peerCredentials(undefined), /got undefined/],
    ['a bigint', () => b.peerCredentials(BigInt(x)), /got a bigint/]
  ], 'peerCredentials(fd: descriptor)')
  rejects(t, [
    ['a missing size', () => b.setBufferSizes(x, 4096), /expected 3 arguments, got 2/],
    ['a size as a string', () => b.setBufferSizes(x, '4096', 0), /sndbuf must be an integer >= 0, got a string/],
    ['a negative size', () => b.setBufferSizes(x, 0, -1), /rcvbuf must be an integer >= 0/],
    ['fd undefined', () => b.setBufferSizes(undefined, 0, 0), /fd must be a descriptor/]
  ], 'setBufferSizes(fd: descriptor')
  // The right arguments still work.
  t.equal(binding.fdInfo(x).kind, 'socket')
  t.equal(binding.peerCredentials(x).pid, process.pid)
  t.doesNotThrow(() => binding.setBufferSizes(x, 0, 0))
})

t.test('the Unix socket functions: socketpair, listenAbstract, connectUnix, openDirectory, listenUnixAt', async (t) => {
  checkFdLeaks(t)
  rejects(t, [['an argument', () => b.socketpair(1), /expected 0 arguments, got 1/]], 'socketpair()')
  rejects(t, [
    ['a name as a number', () => b.listenAbstract(1, 1), /name must be a string, got the number 1/],
    ['a backlog missing', () => b.listenAbstract('x'), /expected 2 arguments, got 1/],
    ['a backlog as a string', () => b.listenAbstract('x', '1'), /backlog must be an integer >= 0, got a string/]
  ], 'listenAbstract(name: string, backlog: integer)')
  rejects(t, [
    ['abstract missing', () => b.connectUnix('/nowhere'), /expected 2 arguments, got 1/],
    ['abstract as a number', () => b.connectUnix('/nowhere', 0), /abstract must be a boolean, got the number 0/],
    ['a name as undefined', () => b.connectUnix(undefined, false), /name must be a string, got undefined/]
  ], 'connectUnix(name: string, abstract: boolean)')
  rejects(t, [
    ['no argument', () => b.openDirectory(), /expected 1 argument, got 0/],
    ['a number', () => b.openDirectory(3), /path must be a string, got the number 3/]
  ], 'openDirectory(path: string)')
  const dir = tmpDir(t, 'args-')
  const opened = binding.openDirectory(dir)
  t.teardown(() => binding.closeFd(opened.fd))
  rejects(t, [
    ['dirFd undefined', () => b.listenUnixAt(undefined, 'r.sock', dir, 1, 0o600), /dirFd must be a descriptor .*got undefined/],
    ['four arguments', () => b.listenUnixAt(opened.fd, 'r.sock', dir, 1), /expected 5 arguments, got 4/],
    ['a name with a slash', () => b.listenUnixAt(opened.fd, 'a/b', dir, 1, 0o600), /name must be one file name/],
    ['a mode below -1', () => b.listenUnixAt(opened.fd, 'r.sock', dir, 1, -2), /mode must be an integer >= -1/]
  ], 'listenUnixAt(dirFd: descriptor')
  t.same(fs.readdirSync(dir), [], 'nothing was made in the directory')
})

t.test('NativeChannel: its constructor and every method', async (t) => {
  checkFdLeaks(t)
  const [x, y] = binding.socketpair()
  t.teardown(() => binding.closeFd(y))
  const callbacks = { onRead () {}, onWritten () {}, onError () {}, onEnd () {} }
  const Channel = binding.NativeChannel as unknown as new (...args: unknown[]) => Record<string, (...args: unknown[]) => unknown>
  rejects(t, [
    ['fd undefined', () => new Channel(undefined, callbacks), /fd must be a descriptor/],
    ['no callbacks', () => new Channel(x), /expected 2 arguments, got 1/],
    ['callbacks as a function', () => new Channel(x, () => {}), /callbacks must be an object, got a function/]
  ], 'new NativeChannel(fd: descriptor')
  const channel = new Channel(x, callbacks)
  rejects(t, [
    ['data as a string', () => channel.send('x'), /data must be a Buffer, got a string/],
    ['fds not an array', () => channel.send(Buffer.from('x'), 3), /fds must be an array of descriptors, got the number 3/],
    ['a descriptor undefined', () => channel.send(Buffer.from('x'), [undefined]), /fds\[0\] must be a descriptor .*got undefined/],
    ['three arguments', () => channel.send(Buffer.from('x'), [], 1), /expected 1 to 2 arguments, got 3/]
  ], 'send(data: Buffer, fds?: descriptor[])')
  rejects(t, [
    ['no argument', () => channel.hold(), /expected 1 argument, got 0/],
    ['a descriptor as a string', () => channel.hold(['3']), /fds\[0\] must be a descriptor .*got a string/]
  ], 'hold(fds: descriptor[])')
  rejects(t, [['done as a number', () => channel.close(1), /done must be a function, got the number 1/]], 'close(done?: function)')
  for (const name of ['ref', 'unref', 'pause', 'resume']) {
    rejects(t, [[`${name}(1)`, () => channel[name](1), /expected 0 arguments, got 1/]], `${name}()`)
  }
  t.equal(channel.send(Buffer.from('still works')), 1, 'the channel still sends after the refused calls')
  await new Promise((resolve) => channel.close(resolve))
})

t.test('NativeListener: its constructor and every method', async (t) => {
  checkFdLeaks(t)
  const fd = binding.listenAbstract(`handoff-args-${process.pid}`, 1)
  const callbacks = { onConnection (conn: number) { binding.closeFd(conn) }, onError () {} }
  const Listener = binding.NativeListener as unknown as new (...args: unknown[]) => Record<string, (...args: unknown[]) => unknown>
  rejects(t, [
    ['fd as a string', () => new Listener(String(fd), callbacks), /fd must be a descriptor .*got a string/],
    ['callbacks null', () => new Listener(fd, null), /callbacks must be an object, got null/],
    ['four arguments', () => new Listener(fd, callbacks, undefined, 1), /expected 2 to 3 arguments, got 4/]
  ], 'new NativeListener(fd: descriptor')
  const listener = new Listener(fd, callbacks)
  rejects(t, [
    ['done as a string', () => listener.close('x'), /done must be a function, got a string/],
    ['keepFile as a number', () => listener.close(undefined, 1), /keepFile must be a boolean, got the number 1/],
    ['three arguments', () => listener.close(undefined, false, 1), /expected 0 to 2 arguments, got 3/]
  ], 'close(done?: function, keepFile?: boolean)')
  for (const name of ['ref', 'unref', 'pause', 'resume']) {
    rejects(t, [[`${name}(true)`, () => listener[name](true), /expected 0 arguments, got 1/]], `${name}()`)
  }
  await new Promise((resolve) => listener.close(resolve))
})
