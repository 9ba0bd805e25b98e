// `fastify-handoff status|check|watch` against a live receiver (a real
// process) after a known sequence of handoffs: the figures it prints are the
// receiver's, the query is not a sender (not counted, no 'peer' event, can
// hand off nothing), and neither side keeps a descriptor of it.
import t, { type Test } from 'tap'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { rawClient, startReceiver, startSender, tmpDir, type Child } from '../receiver/helpers.js'
import { Channel } from '../../plugin/channel.js'
import { connectUnix } from '../../plugin/unix.js'
import { FrameType, encodeHandoff, encodeStatusRequest, decodeMessage, protocolFramer } from '../../plugin/protocol/index.js'
import { cli, startCli } from './helpers.js'

interface Setup {
  sockPath: string
  receiver: Child
  senders: Array<Child & { port: number }>
  /** The held connection's client. */
  held: ReturnType<typeof rawClient>
  fds: number
}

/**
 * A receiver (maxConnections 5, target "chat"), sender A (target chat) and
 * sender B (target "other"). Through A: two requests served and closed, then
 * one held open; through B: one REJECT unknown-target. So: live 1, max 5,
 * total 3, rejected 1, peers 2.
 */
async function setup (t: Test): Promise<Setup> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath, maxConnections: 5, targets: ['chat'] })
  const a = await startSender(t, { path: sockPath }, { target: 'chat' })
  await a.event('ready')
  const b = await startSender(t, { path: sockPath }, { target: 'other' })
  await b.event('ready')
  await receiver.event('peer')
  await receiver.event('peer')
  for (let i = 0; i < 2; i++) {
    const client = rawClient(a.port)
    client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await a.event('accept')
    await client.closed
  }
  await receiver.request('idle') // both have closed on the receiver's side too
  const rejected = rawClient(b.port)
  rejected.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  const reject = await b.event('reject')
  t.equal(reject.reason, 'unknown-target')
  await rejected.closed
  const held = rawClient(a.port)
  t.teardown(() => { held.socket.destroy() })
  held.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await a.event('accept')
  await held.waitFor((data) => data.includes('\n')) // the receiver serves it
  return { sockPath, receiver, senders: [a, b], held, fds: receiver.fds() }
}

t.test('status --json: the receiver\'s figures after a known sequence of handoffs', async (t) => {
  checkFdLeaks(t)
  const { sockPath, receiver, senders, fds } = await setup(t)
  const run = await cli(['status', sockPath, '--json'])
  t.equal(run.code, 0, 'exit 0', { stderr: run.stderr })
  const status = JSON.parse(run.stdout)
  t.match(status, {
    address: sockPath,
    receiver: { pid: receiver.pid, uid: process.getuid?.(), gid: process.getgid?.(), protocol: { minVersion: 1, version: 2 } },
    live: 1,
    max: 5,
    draining: false,
    total: 3,
    rejected: 1,
    peers: 2,
    untrustedPeers: 0
  })
  const version = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version
  t.equal(status.receiver.implementation, `fastify-handoff ${version} (node ${process.version})`)
  t.same(status.senders.map((s: { pid: number }) => s.pid).sort(), senders.map((s) => s.pid).sort(), 'both senders, by the kernel\'s pid')
  t.ok(status.receiver.startedAt <= Date.now() && status.receiver.uptimeMs >= 0)

  // The query was not a sender: not counted, no 'peer' or 'peerClose' event, no handoff.
  const stats = (await receiver.request('stats')).stats
  t.match(stats, { live: 1, total: 3, rejected: 1, peers: 2, untrustedPeers: 0, draining: false, senderConnections: 2 },
    'the receiver\'s own stats agree (two sender channels made: the query is not one)')
  t.equal(receiver.seen('peer').length, 2, 'no peer event for the query')
  t.equal(receiver.seen('peerClose').length, 0, 'no peerClose for the query')
  t.equal(await fdsBackTo(receiver.pid, fds, 10000), fds, 'the receiver holds no descriptor of the query')
})

t.test('status (text), check, and a draining receiver', async (t) => {
  checkFdLeaks(t)
  const { sockPath, receiver, senders, fds } = await setup(t)
  const run = await cli(['status', sockPath])
  t.equal(run.code, 0, 'exit 0', { stderr: run.stderr })
  t.match(run.stdout, `fastify-handoff receiver at ${sockPath}\n`)
  t.match(run.stdout, new RegExp(`process +pid ${receiver.pid} \\(uid ${String(process.getuid?.())}, gid ${String(process.getgid?.())}\\)`))
  t.match(run.stdout, /version +fastify-handoff \d+\.\d+\.\d+\S* \(node v\d+\.\d+\.\d+\), protocol 1-2\n/)
  t.match(run.stdout, /state +accepting handoffs\n/)
  t.match(run.stdout, /live +1 connection \(max 5\)\n/)
  t.match(run.stdout, /totals +3 handed off, 1 rejected, 0 untrusted peers dropped\n/)
  t.match(run.stdout, /senders +2 connected\n/)
  for (const sender of senders) t.match(run.stdout, new RegExp(`\\n +pid ${sender.pid} \\(uid`), `sender ${sender.pid} listed`)

  const check = await cli(['check', sockPath])
  t.equal(check.code, 0, 'check: exit 0')
  t.match(check.stdout, new RegExp(`^ok: fastify-handoff receiver at ${sockPath} answers \\(pid ${receiver.pid},`))
  const checkJson = await cli(['check', sockPath, '--json'])
  t.match(JSON.parse(checkJson.stdout), { ok: true, live: 1, total: 3 })

  receiver.proc.send({ cmd: 'drain' })
  await receiver.event('draining')
  const draining = await cli(['status', sockPath])
  t.match(draining.stdout, /state +draining \(new handoffs are refused\)\n/)
  t.equal(await fdsBackTo(receiver.pid, fds, 10000), fds, 'the receiver holds no descriptor of the queries')
})

t.test('watch --count 2 refreshes twice and stops; SIGINT stops an unbounded watch', async (t) => {
  checkFdLeaks(t)
  const { sockPath, receiver, held, fds } = await setup(t)
  const json = await cli(['watch', sockPath, '--json', '--count', '2', '--interval', '100'])
  t.equal(json.code, 0)
  const lines = json.stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.equal(lines.length, 2, 'two refreshes')
  t.same(lines.map((l) => [l.live, l.total]), [[1, 3], [1, 3]])

  const text = await cli(['watch', sockPath, '--count', '2'])
  t.equal(text.code, 0)
  t.equal(text.stdout.match(/fastify-handoff receiver at /g)?.length, 2, 'two status blocks')

  // A refresh shows a change: the held connection closes between two of them.
  const watching = startCli(['watch', sockPath, '--json', '--interval', '100'])
  await watching.output(/"live":1/)
  held.socket.destroy()
  await receiver.request('idle')
  await watching.output(/"live":0/)
  watching.signal('SIGINT')
  const ended = await watching.done
  t.same({ code: ended.code, signal: ended.signal }, { code: 0, signal: null }, 'SIGINT ends the watch cleanly')
  t.equal(await fdsBackTo(receiver.pid, fds - 1, 10000), fds - 1, 'the receiver holds no descriptor of the queries')
})

t.test('a status channel can hand off nothing: a HANDOFF after the request is never read', async (t) => {
  checkFdLeaks(t)
  const { sockPath, receiver, senders, fds } = await setup(t)
  const channel = new Channel(await connectUnix(sockPath), protocolFramer)
  const frames: number[] = []
  channel.on('message', (frame) => frames.push(decodeMessage(frame).type))
  channel.on('error', () => {})
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()))
  const client = rawClient(senders[0].port) // any live TCP socket to offer
  await new Promise<void>((resolve) => client.socket.once('connect', () => resolve()))
  const handoff = encodeHandoff(1, { meta: { kind: 'raw', keepAlive: false, sentAt: Date.now() }, head: Buffer.alloc(0), buffered: Buffer.alloc(0) })
  await channel.send(encodeStatusRequest({ pid: process.pid }))
  await channel.send(handoff, [(client.socket as unknown as { _handle: { fd: number } })._handle.fd]).catch(() => {})
  await closed
  t.same(frames, [FrameType.Hello, FrameType.StatusReport], 'HELLO, STATUS_REPORT, then the end: no verdict')
  const stats = (await receiver.request('stats')).stats
  t.match(stats, { total: 3, rejected: 1, peers: 2 }, 'nothing accepted or rejected')
  client.socket.destroy()
  await client.closed
  // The receiver never read the HANDOFF: its descriptor died with the channel in the kernel.
  t.equal(await fdsBackTo(receiver.pid, fds, 10000), fds, 'no descriptor left in the receiver')
  t.equal(receiver.seen('error').length, 0, 'nothing to report either')
})

t.test('§13: the Python observer of PROTOCOL.md reads a live receiver', async (t) => {
  const skip = prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' })
  if (skip !== false) { t.skip(skip); return }
  checkFdLeaks(t)
  const { sockPath, receiver, fds } = await setup(t)
  const doc = readFileSync(path.join(__dirname, '..', '..', 'PROTOCOL.md'), 'utf8')
  const sketch = /<!-- sketch:status -->\n```python\n([\s\S]*?)```/.exec(doc)
  if (sketch === null) throw new Error('no status sketch in PROTOCOL.md')
  const run = spawnSync('python3', ['-c', sketch[1], sockPath], { encoding: 'utf8', timeout: 20000 })
  t.equal(run.status, 0, 'the sketch ran', { stderr: run.stderr })
  t.same(JSON.parse(run.stdout), { role: 'receiver', live: 1, total: 3, peers: 2 })
  t.equal(await fdsBackTo(receiver.pid, fds, 10000), fds)
})
