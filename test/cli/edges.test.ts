// The tool at its edges, run as a process: the short flags, a flag without
// its value, a second PATH; a path longer than a Unix socket address holds
// (exit 1 with the system's code: nothing more to say); a peer whose first
// frame is not a HELLO; a socket of another uid that closes without a word
// (the hint names both uids); and watch as an operator sees it through a
// restart: on a terminal each refresh replaces the last, a refresh that
// fails is shown and the watch goes on, and the receiver coming back shows.
import t, { type Test } from 'tap'
import path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { childEnv } from '../helpers/child.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { tmpDir } from '../helpers/tmp.js'
import { startReceiver } from '../receiver/helpers.js'
import { encodeStatusRequest } from '../../plugin/protocol/index.js'
import { BIN, cli, fails, plainServer, startCli } from './helpers.js'

const NOBODY = 65534
const OWN_UID = process.getuid?.() ?? -1
/** What watch writes before each refresh on a terminal: cursor home, clear the screen. */
const CLEAR = '\x1b[H\x1b[2J'

t.test('-h, -v, a flag without its value, a second PATH', async (t) => {
  const help = await cli(['-h'])
  t.same({ code: help.code, stderr: help.stderr }, { code: 0, stderr: '' }, '-h: exit 0')
  t.match(help.stdout, /^Usage: fastify-handoff <command> PATH/, '-h: the usage on stdout')
  const version = await cli(['-v'])
  t.equal(version.code, 0, '-v: exit 0')
  t.match(version.stdout, /^fastify-handoff \d+\.\d+\.\d+\n$/, '-v: the version')
  const bare = await cli(['watch', '/x', '--count'])
  t.equal(bare.code, 2, '--count without its value: exit 2')
  t.match(bare.stderr, /--count needs a value/)
  const two = await cli(['status', '/x', '/y'])
  t.equal(two.code, 2, 'a second PATH: exit 2')
  t.match(two.stderr, /unexpected argument "\/y"/)
})

t.test('a path longer than a Unix socket address holds: exit 1, with the system\'s code', async (t) => {
  const long = path.join(tmpDir(t), 'r'.repeat(120) + '.sock')
  await fails(t, ['status', long], 1, 'ENAMETOOLONG', /ENAMETOOLONG \(name too long\)/)
})

t.test('a peer whose first frame is a fastify-handoff frame but not a HELLO: exit 5', async (t) => {
  checkFdLeaks(t)
  const asking = await plainServer(t, (socket) => socket.write(encodeStatusRequest({ pid: process.pid })))
  await fails(t, ['check', asking], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /its first frame is a frame of type \d+, not a receiver's HELLO/)
})

t.test('a socket of another uid that closes without a word: exit 5, and the hint names both uids', async (t) => {
  const skip = prerequisite(t, { name: 'root', available: OWN_UID === 0, install: 'run the tests as root: the peer runs as uid 65534 through setpriv' }) ||
    prerequisite(t, { name: 'setpriv', available: hasCommand('setpriv'), install: 'apt-get install util-linux' }) ||
    prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' })
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  // What a receiver of another uid that refuses the caller looks like when
  // its ERROR is lost to the reset: a close without a word. Abstract: no
  // file permission stands in the way, only the peer's own decision.
  const name = `fastify-handoff-test-${process.pid}-closer`
  // Through env: its PATH search goes on past a python3 that uid 65534 may not run (a shim in root's home).
  const peer = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', 'python3', '-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX)',
    "s.bind('\\0' + sys.argv[1])",
    's.listen(8)',
    "print('ready', flush=True)",
    'while True: s.accept()[0].close()'
  ].join('\n'), name], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => peer.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    peer.stdout.once('data', () => resolve())
    peer.once('exit', (code) => reject(new Error(`the peer exited (${String(code)}) before it listened`)))
  })
  await fails(t, ['check', `@${name}`], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER',
    new RegExp(`it runs as uid ${NOBODY} and this process as uid ${OWN_UID}: if it is a receiver, it may have refused`))
  peer.kill('SIGKILL')
  await new Promise((resolve) => peer.once('close', resolve))
})

/** Runs the tool under a pseudo-terminal (util-linux `script`): what a terminal shows, and the exit status. */
function onTerminal (t: Test, args: string[]): { status: number | null, screen: string } {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')
  const run = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { env: childEnv(), encoding: 'utf8', timeout: 20000 })
  t.equal(run.signal, null, `${args.join(' ')}: ended within its limit`)
  return { status: run.status, screen: run.stdout }
}

t.test('watch through a restart: on a terminal each refresh replaces the last; a failed refresh is shown and the watch goes on', async (t) => {
  const skip = prerequisite(t, { name: 'script', available: hasCommand('script'), install: 'apt-get install util-linux (bsdutils)' })
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  // Nobody there yet: each refresh clears the screen and says so; the status is the last refresh's.
  const absent = onTerminal(t, ['watch', sockPath, '--count', '2', '--interval', '100'])
  t.equal(absent.status, 3, 'no receiver: exit 3')
  t.equal(absent.screen.split(CLEAR).length - 1, 2, 'the screen cleared for each of the two refreshes')
  t.equal(absent.screen.match(/no such socket/g)?.length, 2, 'each says there is no such socket')

  // Without a terminal: the failed refreshes, then the receiver as it comes up.
  const watching = startCli(['watch', sockPath, '--json', '--interval', '100'])
  await watching.output(/"code":"ERR_HANDOFF_STATUS_NO_SOCKET"/)
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  await watching.output(/"live":0/)
  watching.signal('SIGINT')
  const ended = await watching.done
  t.same({ code: ended.code, signal: ended.signal }, { code: 0, signal: null }, 'SIGINT ends it; exit 0: the last refresh found the receiver')
  t.match(ended.stdout, /"ok":false[^\n]*\n[^]*"receiver":\{"pid":\d+/, 'the failure first, then the receiver\'s status')

  const live = onTerminal(t, ['watch', sockPath, '--count', '2', '--interval', '100'])
  t.equal(live.status, 0, 'on a terminal, with the receiver: exit 0')
  t.equal(live.screen.split(CLEAR).length - 1, 2, 'the screen cleared before each refresh')
  t.equal(live.screen.match(/fastify-handoff receiver at /g)?.length, 2, 'two status blocks, each on a clear screen')
  receiver.kill()
  await receiver.exited
})
