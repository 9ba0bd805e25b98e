// Path tricks against a root receiver (issue #11 item 2): the socket file is
// created, replaced and removed through the directory opened at listen, so
// another uid that retargets a symlink, swaps the socket's name or races a
// stale-socket replacement changes nothing outside what it could already
// write. The tricks are real actions of uid 65534 (setpriv); a directory that
// uid can write is refused by default, so the tricks run with the opt-in
// sharedDirectory: 'warn' (what an operator who accepts the risk gets).
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { checkFdLeaks } from '../helpers/fds.js'
import { binding } from '../../plugin/native.js'
import { createReceiver, type Receiver } from '../../plugin/receiver/index.js'
import type { HandoffLogger } from '../../plugin/logger.js'
import { connectUnix, listenUnix } from '../../plugin/unix.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { tmpDir } from './helpers.js'

const NOBODY = 65534
// The system's python: a python3 first on root's PATH may live where uid
// 65534 cannot run it (pyenv under /root).
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
// A root receiver, tricks by a second uid through setpriv, sockets made by
// python3 (locally a skip that says what to install; in CI a failure).
const skip = prerequisite(t, { name: 'root', available: process.getuid?.() === 0, install: 'run the tests as root' }) ||
  prerequisite(t, { name: 'setpriv', available: hasCommand('setpriv'), install: 'apt-get install util-linux' }) ||
  prerequisite(t, { name: 'python3', available: hasCommand(PYTHON), install: 'apt-get install python3' })

/** Runs a command as uid/gid 65534 and waits for it; throws with its stderr on failure. */
function asNobody (cmd: string, ...args: string[]): string {
  return execFileSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** A python3 snippet as uid 65534 (argv[1:] are the arguments). */
function pythonAsNobody (script: string, ...args: string[]): string {
  return asNobody(PYTHON, '-c', script, ...args)
}

const SWAP_IN_SYMLINK = 'import os, sys; os.symlink(sys.argv[1], sys.argv[2] + ".x"); os.rename(sys.argv[2] + ".x", sys.argv[2])'
const STALE_SOCKET = 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])'

interface Layout {
  base: string
  /** A directory of uid 65534 (0755): it may do anything in it. */
  shared: string
  /** A root directory (0700) elsewhere, and a root file in it that nothing may touch. */
  victimDir: string
  victim: string
}

function layout (t: Test, victimName = 'r.sock'): Layout {
  const base = tmpDir(t, 0o755) // 65534 can reach shared/ through it, nothing more
  const shared = path.join(base, 'shared')
  fs.mkdirSync(shared, { mode: 0o755 })
  fs.chownSync(shared, NOBODY, NOBODY)
  const victimDir = path.join(base, 'victim')
  fs.mkdirSync(victimDir, { mode: 0o700 })
  const victim = path.join(victimDir, victimName)
  fs.writeFileSync(victim, 'precious root data\n', { mode: 0o640 })
  return { base, shared, victimDir, victim }
}

interface FileState { ino: number, mode: number, uid: number, nlink: number, content: string }

function stateOf (file: string): FileState {
  const st = fs.lstatSync(file)
  return { ino: st.ino, mode: st.mode, uid: st.uid, nlink: st.nlink, content: fs.readFileSync(file, 'utf8') }
}

function quietLogger (warnings: string[] = []): HandoffLogger {
  const log: HandoffLogger = { debug () {}, info () {}, warn (_obj, msg) { warnings.push(msg ?? '') }, error () {}, child: () => log }
  return log
}

async function sharedReceiver (sockPath: string, warnings: string[] = []): Promise<Receiver> {
  return await createReceiver({ path: sockPath, sharedDirectory: 'warn', logger: quietLogger(warnings) })
}

function isSocket (file: string): boolean {
  try { return fs.lstatSync(file).isSocket() } catch { return false }
}

t.test('(a) a symlinked directory retargeted before close(): the file it now names survives, our socket goes', { skip }, async (t) => {
  checkFdLeaks(t)
  const { base, shared, victimDir, victim } = layout(t)
  const priv = path.join(base, 'priv')
  fs.mkdirSync(priv, { mode: 0o700 })
  const link = path.join(shared, 'link')
  asNobody('ln', '-s', priv, link)
  const sockPath = path.join(link, 'r.sock')

  await t.rejects(createReceiver({ path: sockPath, logger: quietLogger() }), { code: 'ERR_HANDOFF_UNSAFE_DIRECTORY' },
    'by default: refused, the symlink sits in a directory of uid 65534')
  t.same(fs.readdirSync(priv), [], 'and nothing was created')

  const warnings: string[] = []
  const receiver = await sharedReceiver(sockPath, warnings)
  t.match(warnings.join('\n'), `${shared} belongs to uid ${NOBODY}`, 'with the opt-in: listening, and the risk is logged')
  t.ok(isSocket(path.join(priv, 'r.sock')), 'the socket is in the directory the link named at listen')
  const before = stateOf(victim)

  asNobody('ln', '-sfn', victimDir, link) // uid 65534 retargets its link at a root directory holding an r.sock
  t.equal(fs.readlinkSync(link), victimDir, 'the path now names the root file')
  await receiver.close()

  t.same(stateOf(victim), before, 'the root file the path names is untouched (inode, mode, owner, links, content)')
  t.notMatch(warnings.join('\n'), 'no longer ours', 'close() found its own socket through the directory opened at listen')
  t.notOk(fs.existsSync(path.join(priv, 'r.sock')), 'our socket was removed, in the directory opened at listen')
})

t.test('(b) the socket name swapped for a symlink to a root file: nothing followed, at close or while listening', { skip }, async (t) => {
  checkFdLeaks(t)
  const { shared, victim } = layout(t, 'secret.conf')
  fs.chmodSync(victim, 0o600)
  const sockPath = path.join(shared, 'r.sock')
  const before = stateOf(victim)

  const receiver = await sharedReceiver(sockPath)
  pythonAsNobody(SWAP_IN_SYMLINK, victim, sockPath)
  t.equal(fs.readlinkSync(sockPath), victim, 'the name is now a symlink of uid 65534 to the root file')
  await receiver.close()
  t.equal(fs.readlinkSync(sockPath), victim, 'close() left the symlink alone (not our socket)')
  t.same(stateOf(victim), before, 'the root file is untouched')

  // While listening: uid 65534 swaps the symlink in as fast as it can while
  // a receiver with mode 0666 starts and stops again and again. A chmod or an
  // unlink through the name would show on the root file.
  fs.rmSync(sockPath, { force: true })
  const racer = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', PYTHON, '-c', `
import os, sys
target, name = sys.argv[1], sys.argv[2]
print('racing', flush=True)
for i in range(200000):
    tmp = name + '.%d' % (i % 2)
    try:
        os.symlink(target, tmp)
        os.rename(tmp, name)
    except OSError:
        pass
`, victim, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((resolve) => racer.once('exit', resolve))
  t.teardown(() => { if (racer.exitCode === null) racer.kill('SIGKILL') })
  await new Promise((resolve) => readline.createInterface({ input: racer.stdout }).once('line', resolve))
  const outcomes = new Map<string, number>()
  for (let i = 0; i < 40 && racer.exitCode === null; i++) {
    let outcome = 'listened'
    try {
      const listener = await listenUnix(sockPath, { mode: 0o666, sharedDirectory: 'warn' })
      listener.close()
    } catch (err) {
      outcome = `${(err as NodeJS.ErrnoException).code}`
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
  }
  racer.kill('SIGTERM')
  await exited
  t.ok([...outcomes.keys()].every((o) => o === 'listened' || o === 'EADDRINUSE'),
    'each start either listened or refused the symlink (EADDRINUSE)', { outcomes: Object.fromEntries(outcomes) })
  t.same(stateOf(victim), before, 'after the race the root file is untouched (mode 0600 kept, content, inode)')
})

t.test('(c) the socket replaced by the other uid\'s own socket or file before close(): not removed', { skip }, async (t) => {
  checkFdLeaks(t)
  const { shared } = layout(t)
  const sockPath = path.join(shared, 'r.sock')

  const warnings: string[] = []
  const receiver = await sharedReceiver(sockPath, warnings)
  const ours = fs.lstatSync(sockPath).ino
  asNobody('mv', sockPath, `${sockPath}.moved`)
  pythonAsNobody(STALE_SOCKET, sockPath)
  const theirs = fs.lstatSync(sockPath).ino
  await receiver.close()
  t.ok(isSocket(sockPath), 'their socket is still at the name')
  t.equal(fs.lstatSync(sockPath).ino, theirs, 'the very same inode')
  t.equal(fs.lstatSync(sockPath).uid, NOBODY)
  t.equal(fs.lstatSync(`${sockPath}.moved`).ino, ours, 'ours, moved away by them, is not chased either')
  t.match(warnings.join('\n'), 'the socket file was no longer ours', 'the receiver logged that it left the name alone')

  fs.rmSync(sockPath)
  fs.rmSync(`${sockPath}.moved`)
  const again = await sharedReceiver(sockPath)
  pythonAsNobody('import os, sys; os.unlink(sys.argv[1]); open(sys.argv[1], "w").write("mine\\n")', sockPath)
  const file = stateOf(sockPath)
  await again.close()
  t.same(stateOf(sockPath), file, 'a regular file of theirs at the name is left exactly as it was')
})

/** A root observer of one path: creates stale sockets there and lstat()s it in a loop while told to. */
function startProber (t: Test, sockPath: string): { ask: (cmd: string) => Promise<string> } {
  const proc = spawn(PYTHON, ['-c', `
import json, os, select, stat, socket, sys
p = sys.argv[1]
def line():
    buf = b''
    while not buf.endswith(b'\\n'):
        chunk = os.read(0, 1)
        if not chunk:
            sys.exit(0)
        buf += chunk
    return buf.decode().strip()
while True:
    cmd = line()
    if cmd == 'stale':
        s = socket.socket(socket.AF_UNIX); s.bind(p); s.close()
        print(os.lstat(p).st_ino, flush=True)
    elif cmd == 'probe':
        samples = missing = other = 0
        inodes = set()
        # lstat as fast as it can; a look at stdin every 64 calls only. It
        # says 'probing' after its first look, so that one is before the start.
        while samples % 64 or not select.select([0], [], [], 0)[0]:
            if samples == 1:
                print('probing', flush=True)
            samples += 1
            try:
                st = os.lstat(p)
                inodes.add(st.st_ino)
                if not stat.S_ISSOCK(st.st_mode):
                    other += 1
            except FileNotFoundError:
                missing += 1
        # One more look once told to stop: the last one in the loop may have
        # been taken just before the start, with this process then descheduled.
        try:
            inodes.add(os.lstat(p).st_ino)
        except FileNotFoundError:
            missing += 1
        line()
        print(json.dumps({'samples': samples, 'missing': missing, 'other': other, 'inodes': sorted(inodes)}), flush=True)
`, sockPath], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  const lines: string[] = []
  let wake: (() => void) | null = null
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { lines.push(l); wake?.() })
  return {
    async ask (cmd: string): Promise<string> {
      proc.stdin.write(`${cmd}\n`)
      while (lines.length === 0) {
        if (proc.exitCode !== null) throw new Error(`the prober exited (${proc.exitCode}) while asked ${cmd}`)
        await new Promise<void>((resolve) => { wake = resolve })
      }
      return lines.shift() as string
    }
  }
}

t.test('(d) a stale socket is replaced with no window: the name never goes missing while the receiver starts', { skip }, async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'r.sock')
  const prober = startProber(t, sockPath)
  let samples = 0
  const missed: number[] = []
  const unwatched: number[] = []
  const reused: number[] = []
  const rounds = 25
  for (let round = 0; round < rounds; round++) {
    const stale = Number(await prober.ask('stale'))
    t.equal(await prober.ask('probe'), 'probing')
    const receiver = await createReceiver({ path: sockPath, logger: quietLogger() })
    const seen = JSON.parse(await prober.ask('stop'))
    const now = fs.lstatSync(sockPath).ino
    samples += seen.samples as number
    if (seen.missing > 0 || seen.other > 0) missed.push(round)
    if ([...seen.inodes].sort().join() !== [stale, now].sort().join()) unwatched.push(round)
    // Two files that exist at once never share an inode number; the stale
    // one's number back on the new socket means it was gone first (a window).
    if (now === stale) reused.push(round)
    const fd = await connectUnix(sockPath) // the receiver answers on the name
    binding.closeFd(fd)
    await receiver.close()
  }
  t.ok(samples >= rounds, `the prober looked at the name throughout (${samples} lstat calls in ${rounds} starts)`)
  t.same(unwatched, [], 'every round the prober saw the stale inode, then the receiver\'s, and nothing else')
  t.same(missed, [], 'in no round was the name ever missing (or anything but a socket)')
  t.same(reused, [], 'the receiver\'s socket was made while the stale one still existed (never its inode number)')
})

t.test('(e) a live socket is refused; a regular file, a symlink or a directory at the path is refused and left intact', { skip }, async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const live = path.join(dir, 'live.sock')
  const first = await listenUnix(live)
  const ino = fs.lstatSync(live).ino
  await t.rejects(createReceiver({ path: live, logger: quietLogger() }), { code: 'ERR_HANDOFF_PATH_IN_USE' }, 'a live socket: ERR_HANDOFF_PATH_IN_USE')
  t.equal(fs.lstatSync(live).ino, ino, 'the live socket is the same inode')
  const accepted = new Promise<number>((resolve) => first.once('connection', resolve))
  const fd = await connectUnix(live)
  binding.closeFd(await accepted)
  binding.closeFd(fd)
  t.pass('and its listener still accepts on it')
  first.close()

  const { victim } = layout(t, 'data.txt')
  const before = stateOf(victim)
  const file = path.join(dir, 'file.sock')
  fs.writeFileSync(file, 'keep me\n', { mode: 0o600 })
  const fileState = stateOf(file)
  await t.rejects(listenUnix(file), { code: 'EADDRINUSE', syscall: 'bind' }, 'a regular file: refused')
  t.same(stateOf(file), fileState, 'and left exactly as it was')

  const link = path.join(dir, 'link.sock')
  fs.symlinkSync(victim, link)
  await t.rejects(listenUnix(link), { code: 'EADDRINUSE', syscall: 'bind' }, 'a symlink to a root file: refused')
  t.equal(fs.readlinkSync(link), victim, 'the symlink is still there')
  t.same(stateOf(victim), before, 'its target untouched')

  const staleTarget = path.join(dir, 'stale-target.sock')
  execFileSync(PYTHON, ['-c', STALE_SOCKET, staleTarget])
  const viaLink = path.join(dir, 'via-link.sock')
  fs.symlinkSync(staleTarget, viaLink)
  await t.rejects(listenUnix(viaLink), { code: 'EADDRINUSE', syscall: 'bind' }, 'a symlink to a stale socket: refused, not followed')
  t.ok(fs.lstatSync(viaLink).isSymbolicLink() && isSocket(staleTarget), 'both left in place')

  const sub = path.join(dir, 'dir.sock')
  fs.mkdirSync(sub)
  await t.rejects(listenUnix(sub), { code: 'EADDRINUSE' }, 'a directory: refused')
  t.ok(fs.statSync(sub).isDirectory())
  t.same(fs.readdirSync(dir).sort(), ['dir.sock', 'file.sock', 'link.sock', 'stale-target.sock', 'via-link.sock'],
    'no private directory or other leftover in the socket directory')
})

t.test('(f) a socket directory another uid can write: refused by default, a warning with the opt-in', { skip }, async (t) => {
  checkFdLeaks(t)
  const { base, shared } = layout(t)
  const check = async (dir: string, reason: string): Promise<void> => {
    const sockPath = path.join(dir, 'r.sock')
    const err = await createReceiver({ path: sockPath, logger: quietLogger() }).then(async (r) => { await r.close(); return null }, (e: unknown) => e)
    t.match(err, { code: 'ERR_HANDOFF_UNSAFE_DIRECTORY', message: reason }, `refused: ${reason}`)
    t.same(fs.readdirSync(dir).filter((n) => n !== 'inner'), [], 'nothing was created there')
  }
  await check(shared, `${shared} belongs to uid ${NOBODY}`)
  const open = path.join(base, 'open')
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o777)
  await check(open, `${open} is writable by other users`)
  const group = path.join(base, 'group')
  fs.mkdirSync(group)
  fs.chmodSync(group, 0o770)
  await check(group, `${group} is writable by its group`)
  const inner = path.join(open, 'inner')
  fs.mkdirSync(inner, { mode: 0o700 })
  await check(inner, `${open} is writable by other users`) // an ancestor: it can rename inner/ away

  const warnings: string[] = []
  const receiver = await sharedReceiver(path.join(shared, 'r.sock'), warnings)
  t.match(warnings, [`socket directory: ${shared} belongs to uid ${NOBODY}`], 'sharedDirectory: \'warn\' listens and logs why')
  await receiver.close()

  const sticky = path.join(base, 'sticky')
  fs.mkdirSync(sticky)
  fs.chmodSync(sticky, 0o1777)
  const stickyWarnings: string[] = []
  const inSticky = await createReceiver({ path: path.join(sticky, 'r.sock'), logger: quietLogger(stickyWarnings) })
  t.match(stickyWarnings.join('\n'), /is writable by other users \(sticky\): while nobody listens, another user can bind the name/,
    'a sticky shared directory (like /tmp): listens by default, with a warning (others cannot move our socket, only take a free name)')
  await inSticky.close()
})

t.test('the addon checks its arguments (a wrong type is a TypeError, never fd 0)', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  t.throws(() => binding.openDirectory(3 as unknown as string), TypeError)
  const { fd } = binding.openDirectory(dir)
  try {
    t.throws(() => binding.listenUnixAt('3' as unknown as number, 'r.sock', dir, 1, 0o600), TypeError, 'dirFd as a string')
    t.throws(() => binding.listenUnixAt(fd, '../r.sock', dir, 1, 0o600), TypeError, 'a name with a slash')
    t.throws(() => binding.listenUnixAt(fd, '..', dir, 1, 0o600), TypeError, 'a name of ..')
    t.throws(() => binding.listenUnixAt(fd, 'r.sock', dir, 1.5, 0o600), TypeError, 'a backlog that is not an integer')
    const callbacks = { onConnection () {}, onError () {} }
    t.throws(() => new binding.NativeListener(fd, callbacks, { dirFd: 'x', name: 'r', dev: 1n, ino: 1n } as any), TypeError, 'a file with a bad dirFd')
    t.throws(() => new binding.NativeListener(fd, callbacks, { dirFd: fd, name: 'r', dev: 1, ino: 1 } as any), TypeError, 'dev/ino not bigint')
    t.same(fs.readdirSync(dir), [], 'nothing was created')
  } finally {
    binding.closeFd(fd)
  }
})
