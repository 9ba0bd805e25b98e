// The sender checks who listens before it hands anything over: the kernel's
// credentials of the receiver (SO_PEERCRED), read right after connect and
// before a byte is written. A process of another uid that holds the
// receiver's address (an abstract name, a path in a directory anyone may
// write to, a name taken over after the receiver crashed) gets no HELLO, no
// HANDOFF, no descriptor: each client gets the 503, and health and the log
// say who squats the address. The squatters are real: a receiver of this
// library run as nobody that would take root's connections, and a raw Python
// listener that counts every byte and descriptor that reaches it.
import t, { type Test } from 'tap'
import http from 'node:http'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { fastifyHandoff } from '../../plugin/fastify.js'
import { handoffUpgrades } from '../../plugin/adapters/http.js'
import { createSender, type TargetOptions } from '../../plugin/sender/index.js'
import type { Link } from '../../plugin/sender/link.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { FIXTURES, spawnAs, type Child } from '../helpers/child.js'
import { tmpDir } from '../helpers/tmp.js'
import { requestThrough, startSender } from '../receiver/helpers.js'
import {
  captureLogger, forkFixture, parseResponse, rawClient, serverFrames, stopChild, upgradeRequest, type Message
} from './helpers.js'

const NOBODY = 65534
const OWN_UID = process.getuid?.() ?? -1
const UNTRUSTED = 'ERR_HANDOFF_UNTRUSTED_RECEIVER'
/** Reconnects close together, so that a test sees several of them quickly. */
const RECONNECT = { min: 20, max: 200 }
/** How long a wait on the link may take before the test fails with what it saw. */
const WAIT_LIMIT_MS = 20000

/**
 * What these tests need from the machine: root (only root can start a
 * process of another uid), setpriv, and for the raw squatter python3
 * (test/helpers/prereq.ts: locally a skip saying what to install, in CI a
 * failure). Abstract names are Linux only: elsewhere a plain skip.
 */
function needs (t: Test, python: boolean, abstract: boolean): string | false {
  if (abstract && process.platform !== 'linux') return 'abstract socket names are Linux only'
  return prerequisite(t, { name: 'root', available: OWN_UID === 0, install: 'run the tests as root: a squatter runs as uid 65534 through setpriv' }) ||
    prerequisite(t, { name: 'setpriv', available: hasCommand('setpriv'), install: 'apt-get install util-linux' }) ||
    (python && prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' }))
}

/** This library's receiver (test/fixtures/receiver-raw.js) run as nobody, once it listens. */
async function receiverAsNobody (t: Test, config: object): Promise<Child> {
  const child = spawnAs(NOBODY, process.execPath, [path.join(FIXTURES, 'receiver-raw.js'), JSON.stringify(config)], 'receiver', t)
  await child.event('ready')
  return child
}

/** The raw Python listener (test/fixtures/squatter.py) run as nobody, once it listens. */
async function rawSquatter (t: Test, config: object): Promise<Child> {
  const child = spawnAs(NOBODY, 'python3', [path.join(FIXTURES, 'squatter.py'), JSON.stringify(config)], 'raw squatter', t)
  await child.event('ready')
  return child
}

interface App {
  app: FastifyInstance
  port: number
  log: ReturnType<typeof captureLogger>
  link: (target: string) => Link
}

/** The web app: Fastify with the plugin, a `/<name>` upgrade route per target, a logger that keeps every line. */
async function webApp (t: Test, targets: Record<string, TargetOptions>): Promise<App> {
  const log = captureLogger()
  const app = Fastify({ loggerInstance: log.logger })
  await app.register(fastifyHandoff, { targets })
  for (const name of Object.keys(targets)) app.get(`/${name}`, { handoff: name }, async () => ({ local: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return {
    app,
    port: (app.server.address() as { port: number }).port,
    log,
    link: (target) => app.handoff.sender.target(target).links[0]
  }
}

/** Resolves after `count` more 'down' events of `link` (each a connection attempt that failed). */
function downs (link: Link, count: number): Promise<void> {
  let seen = 0
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.removeListener('down', onDown)
      reject(new Error(`only ${seen} of ${count} 'down' events of ${link.label} within ${WAIT_LIMIT_MS} ms: ${JSON.stringify(link.health())}`))
    }, WAIT_LIMIT_MS)
    const onDown = (): void => {
      if (++seen < count) return
      clearTimeout(timer)
      link.removeListener('down', onDown)
      resolve()
    }
    link.on('down', onDown)
  })
}

/**
 * An upgrade to `pathname`: the whole answer once the server closed, or, for
 * an answer other than the 503 (a receiver's 101), what came so far.
 */
async function upgradeAnswer (port: number, pathname: string): Promise<Buffer> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(upgradeRequest(pathname, port).text)
  const head = await client.waitFor((d) => parseResponse(d) !== null)
  const answer = parseResponse(head)?.status === 503 ? await client.ended : head
  client.socket.destroy()
  await client.closed
  return answer
}

/** An upgrade that a receiver serves: its 101 and first frame (receiver-raw.js: its pid), then the client leaves. */
async function upgradeServed (port: number, pathname: string): Promise<{ status: number | undefined, pid: number }> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(upgradeRequest(pathname, port).text)
  const data = await client.waitFor((d) => serverFrames(d).length > 0)
  client.socket.destroy()
  await client.closed
  return { status: parseResponse(data)?.status, pid: JSON.parse(serverFrames(data)[0].payload.toString()).pid }
}

function assert503 (t: Test, answer: Buffer, what: string): void {
  const response = parseResponse(answer)
  t.equal(response?.status, 503, `${what}: answered 503`)
  t.ok(response?.headers['retry-after'], `${what}: with Retry-After`)
  t.equal(response?.length, answer.length, `${what}: and nothing else, from the app alone`)
}

const untrustedLines = (lines: Message[]): Message[] => lines.filter((l) => l.err?.code === UNTRUSTED)

/** What health(), the log and the fallback say about a squatter `squatter` on the link of `target`. */
function assertReported (t: Test, health: Message, line: Message, squatter: Child): void {
  t.equal(line.level, 'warn', 'logged as a warning')
  t.same(line.peer, { pid: squatter.pid, uid: NOBODY, gid: NOBODY }, 'naming the squatter by the kernel\'s credentials')
  t.match(line.msg, new RegExp(`uid ${NOBODY} gid ${NOBODY} \\(pid ${squatter.pid}\\)`), 'the message names its uid, gid and pid')
  t.equal(health.lastErrorCode, UNTRUSTED, 'health: the error code')
  t.match(health.lastError, new RegExp(`uid ${NOBODY}`), 'health: the uid')
  t.not(health.state, 'ready', 'the link is not ready')
}

t.test('a receiver of another uid squatting a path in a 0777 directory gets no client; each client gets the 503', { skip: needs(t, false, false) }, async (t) => {
  checkFdLeaks(t)
  // Anyone may create a socket in this directory, and anyone may connect to it.
  const sockPath = path.join(tmpDir(t, 'handoff-trust-', 0o777), 'chat.sock')
  // A receiver of this very library that WOULD take root's connections (and
  // accepts the shared directory, which it refuses by default).
  const squatter = await receiverAsNobody(t, { path: sockPath, mode: 0o666, allow: { uids: [0, NOBODY] }, sharedDirectory: 'warn' })
  const squatterFds = squatter.fds()
  const { app, port, log, link } = await webApp(t, { chat: { path: sockPath, reconnect: RECONNECT } })
  // The app has met the squatter once it refused it (or, without the check, took it as its receiver).
  await Promise.race([log.waitFor((l) => l.err?.code === UNTRUSTED, UNTRUSTED), app.handoff.ready('chat')])
  for (let i = 1; i <= 3; i++) assert503(t, await upgradeAnswer(port, '/chat'), `client ${i}`)
  t.equal((await squatter.request('stats')).stats.total, 0, 'no client reached the squatter')
  const line = await log.waitFor((l) => l.err?.code === UNTRUSTED, UNTRUSTED)
  // Several more reconnects find the same squatter: they do not log again.
  await downs(link('chat'), 3)
  t.equal(untrustedLines(log.lines).length, 1, 'one log line for one squatter, however many reconnects find it')
  t.ok(link('chat').health().failures >= 3, 'the reconnects go on (with backoff): a real receiver may come back')
  const health = app.handoff.health().chat
  t.equal(health.healthy, false, 'the target is unhealthy')
  assertReported(t, health.receivers[0] as unknown as Message, line, squatter)
  const fallback = log.lines.find((l) => l.err?.code === 'ERR_HANDOFF_UNAVAILABLE')
  t.match(fallback?.err?.message, new RegExp(`uid ${NOBODY}`), 'the 503\'s log line says why no receiver was there')
  await app.close()

  const stats = (await squatter.request('quiet')).stats
  t.equal(stats.total, 0, 'no connection was handed to the squatter')
  t.equal(stats.untrustedPeers, 0, 'it dropped nobody as untrusted: the app closed first')
  t.equal(squatter.seen('peer').length, 0, 'no sender ever said HELLO to it')
  t.equal(squatter.fds(), squatterFds, 'every channel the app opened is closed in the squatter too')

  // Control: the squatter does take a connection from a sender that does
  // not check (the receiver tests' stand-in sender), so the zero above is
  // the app's check and not the squatter's refusal.
  const naive = await startSender(t, { path: sockPath })
  await naive.event('ready')
  t.equal((await requestThrough(naive)).pid, squatter.pid, 'control: a sender without the check hands it a client')
  t.equal((await squatter.request('idle')).stats.total, 1, 'its only one')
  await stopChild(t, naive, 'exit')
  await squatter.request('quiet')
  t.equal(squatter.fds(), squatterFds, 'the squatter holds nothing more than before')
  await stopChild(t, squatter, 'close')
})

t.test('a raw listener of another uid on an abstract name reads nothing: no byte, no descriptor (node:http adapter)', { skip: needs(t, true, true) }, async (t) => {
  checkFdLeaks(t)
  const abstract = `fastify-handoff-trust-${process.pid}-raw`
  const squatter = await rawSquatter(t, { abstract })
  const squatterFds = squatter.fds()
  const log = captureLogger()
  const sender = createSender({ targets: { chat: { path: { abstract }, reconnect: RECONNECT } }, log: log.logger })
  const server = http.createServer((req, res) => res.end())
  const handoff = handoffUpgrades(server, { sender, route: () => ({ target: 'chat' }) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await handoff.close()
    await sender.close()
    server.close()
  })
  const port = (server.address() as { port: number }).port
  // The app's first connection to it, as the squatter saw it end.
  const first = await squatter.event('closed')
  t.same(first, { event: 'closed', bytes: 0, fds: 0 }, 'the app closed its first connection without writing a byte')
  for (let i = 1; i <= 3; i++) assert503(t, await upgradeAnswer(port, '/chat'), `client ${i}`)
  const line = await log.waitFor((l) => l.err?.code === UNTRUSTED, UNTRUSTED)
  await downs(sender.target('chat').links[0], 3)
  t.equal(untrustedLines(log.lines).length, 1, 'one log line for one squatter')
  assertReported(t, sender.health().chat.receivers[0] as unknown as Message, line, squatter)
  await sender.close()

  const stats = await squatter.request('stats')
  t.ok(stats.connections >= 4, `the app did connect (${String(stats.connections)} times): that is how it learns who listens`)
  t.equal(stats.bytes, 0, 'not one byte reached it: no HELLO, no HANDOFF')
  t.equal(stats.fds, 0, 'not one descriptor reached it')
  t.equal(squatter.fds(), squatterFds, 'every connection is closed in the squatter')
  await stopChild(t, squatter, 'exit')
})

t.test('by default the app\'s own uid is trusted; after that receiver crashes, squatters of another uid on its abstract name get no client', { skip: needs(t, true, true) }, async (t) => {
  checkFdLeaks(t)
  const abstract = `fastify-handoff-trust-${process.pid}-crash`
  const real = forkFixture(t, 'receiver-raw.js', { abstract }, 'receiver')
  await real.event('ready')
  const { app, port, log, link } = await webApp(t, { chat: { path: { abstract }, reconnect: RECONNECT } })
  await app.handoff.ready('chat')
  const served = await upgradeServed(port, '/chat')
  t.same(served, { status: 101, pid: real.pid }, 'a receiver of the same uid serves the client (no allow option)')
  await real.request('idle')

  const lost = downs(link('chat'), 1)
  real.kill()
  await real.exited
  await lost
  // The name is free again: a process of another uid takes it (here a
  // receiver of this library that would take root's connections).
  const squatter = await receiverAsNobody(t, { abstract, allow: { uids: [0] } })
  const squatterFds = squatter.fds()
  const refused = (l: Message): boolean => l.err?.code === UNTRUSTED && l.peer?.pid === squatter.pid
  await Promise.race([log.waitFor(refused, `${UNTRUSTED} for pid ${squatter.pid}`), app.handoff.ready('chat')])
  for (let i = 1; i <= 3; i++) assert503(t, await upgradeAnswer(port, '/chat'), `client ${i}`)
  t.equal((await squatter.request('stats')).stats.total, 0, 'no client reached the squatter')
  const line = await log.waitFor(refused, `${UNTRUSTED} for pid ${squatter.pid}`)
  assertReported(t, app.handoff.health().chat.receivers[0] as unknown as Message, line, squatter)
  await downs(link('chat'), 2)
  t.equal(untrustedLines(log.lines).length, 1, 'logged once for this squatter')

  // Another process takes the name: a new failure, logged again. The first
  // squatter stops listening (its name is free) and has channels no more.
  const closed = await squatter.request('closeReceiver')
  t.equal(closed.stats.total, 0, 'no connection was handed to the first squatter')
  t.equal(squatter.seen('peer').length, 0, 'no sender ever said HELLO to it')
  await squatter.request('quiet')
  t.equal(squatter.fds(), squatterFds - 1, 'it holds nothing but what it had, less its listening socket')
  const raw = await rawSquatter(t, { abstract })
  const rawFds = raw.fds()
  const second = await log.waitFor((l) => l.err?.code === UNTRUSTED && l.peer?.pid === raw.pid, `${UNTRUSTED} for pid ${raw.pid}`)
  t.equal(second.peer.uid, NOBODY)
  t.equal(untrustedLines(log.lines).length, 2, 'a second squatter is a second log line')
  assert503(t, await upgradeAnswer(port, '/chat'), 'a client meanwhile')
  await app.close()
  const stats = await raw.request('stats')
  t.ok(stats.connections >= 1, 'the app connected to the second squatter')
  t.same({ bytes: stats.bytes, fds: stats.fds }, { bytes: 0, fds: 0 }, 'nothing reached it: no byte, no descriptor')
  t.equal(raw.fds(), rawFds, 'every connection is closed in the second squatter')
  await stopChild(t, raw, 'exit')
  await stopChild(t, squatter, 'close')
})

t.test('allow: { uids } or { gids } of another uid: the app hands off to a receiver running as nobody', { skip: needs(t, false, false) }, async (t) => {
  checkFdLeaks(t)
  // A 0777 directory, so that nobody may create its socket there: a
  // directory others can write, which the receiver must be told to accept.
  const sockPath = path.join(tmpDir(t, 'handoff-trust-', 0o777), 'chat.sock')
  const receiver = await receiverAsNobody(t, { path: sockPath, mode: 0o666, allow: { uids: [0] }, sharedDirectory: 'warn' })
  const receiverFds = receiver.fds()
  const { app, port, log } = await webApp(t, {
    byUid: { path: sockPath, allow: { uids: [NOBODY] }, reconnect: RECONNECT },
    byGid: { path: sockPath, allow: { gids: [NOBODY] }, reconnect: RECONNECT },
    ownUid: { path: sockPath, reconnect: RECONNECT }
  })
  await app.handoff.ready('byUid')
  await app.handoff.ready('byGid')
  t.same(await upgradeServed(port, '/byUid'), { status: 101, pid: receiver.pid }, 'allow.uids: served by the receiver running as nobody')
  t.same(await upgradeServed(port, '/byGid'), { status: 101, pid: receiver.pid }, 'allow.gids: served by the receiver running as nobody')
  // The same receiver is a stranger to a target that keeps the default.
  const line = await log.waitFor((l) => l.err?.code === UNTRUSTED, UNTRUSTED)
  t.equal(line.target, 'ownUid', 'only the target without allow refuses it')
  assert503(t, await upgradeAnswer(port, '/ownUid'), 'the default target')
  await receiver.request('idle')
  await app.close()
  await receiver.request('quiet')
  t.equal(receiver.fds(), receiverFds, 'the receiver holds nothing more than before')
  t.equal((await receiver.request('stats')).stats.total, 2, 'it served the two trusting targets\' clients, no more')
  await stopChild(t, receiver, 'close')
})
