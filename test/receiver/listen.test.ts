// The socket path: a stale one (a dead receiver's file) is replaced, a live
// one is never stolen, and a path that is not a socket is never removed.
import t from 'tap'
import fs from 'node:fs'
import https from 'node:https'
import Fastify from 'fastify'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { checkFdLeaks } from '../helpers/fds.js'
import { createReceiver } from '../../plugin/receiver/index.js'
import type { FastifyLike } from '../../plugin/receiver/deliver.js'
import { rawClient, startReceiver, startSender, stopChild, tmpDir } from './helpers.js'

async function handOffOnce (t: Test, sender: Awaited<ReturnType<typeof startSender>>, expect: number): Promise<void> {
  const client = rawClient(sender.port)
  client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await sender.event('accept')
  const info = JSON.parse((await client.ended).toString().split('\n')[0])
  t.equal(info.pid, expect, 'served by the expected receiver')
  await client.closed
}
type Test = Parameters<Parameters<typeof t.test>[1]>[0]

t.test('a stale socket path is replaced', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  // A receiver that died without cleaning up: the file stays, nobody listens.
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sockPath])
  t.ok(fs.statSync(sockPath).isSocket(), 'a stale socket file is there')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  await handOffOnce(t, sender, receiver.pid)
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('a live socket path is not stolen', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, 'raw', { path: sockPath })
  const inode = fs.statSync(sockPath).ino
  await t.rejects(createReceiver({ path: sockPath }), { code: 'ERR_HANDOFF_PATH_IN_USE' },
    'a second receiver on the same path is refused')
  t.equal(fs.statSync(sockPath).ino, inode, 'the live receiver\'s socket file is untouched')
  const sender = await startSender(t, { path: sockPath })
  await sender.event('ready')
  await handOffOnce(t, sender, receiver.pid)
  await receiver.request('idle')
  await stopChild(t, sender)
  await stopChild(t, receiver, 'close')
})

t.test('a path that is not a socket is never replaced', async (t) => {
  checkFdLeaks(t)
  const file = path.join(tmpDir(t), 'important.txt')
  fs.writeFileSync(file, 'keep me')
  await t.rejects(createReceiver({ path: file }), { code: 'ERR_HANDOFF_RECEIVER_OPTION' })
  t.equal(fs.readFileSync(file, 'utf8'), 'keep me', 'the file is still there')
})

t.test('options are checked', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const bad: Array<[string, object]> = [
    ['neither path nor abstract', {}],
    ['both path and abstract', { path: path.join(dir, 'a'), abstract: 'x' }],
    ['mode', { path: path.join(dir, 'a'), mode: 0o1777 }],
    ['sharedDirectory', { path: path.join(dir, 'a'), sharedDirectory: 'allow' }],
    ['maxConnections', { path: path.join(dir, 'a'), maxConnections: -1 }],
    ['allow', { path: path.join(dir, 'a'), allow: {} }],
    ['allow.uids', { path: path.join(dir, 'a'), allow: { uids: ['root'] } }],
    ['allow null (not an object)', { path: path.join(dir, 'a'), allow: null }],
    ['server', { path: path.join(dir, 'a'), server: {} }],
    ['helloTimeout Infinity (Node would fire it after 1 ms)', { path: path.join(dir, 'a'), helloTimeout: Infinity }],
    ['helloTimeout beyond 2^31 - 1 ms', { path: path.join(dir, 'a'), helloTimeout: 2 ** 31 }],
    ['frameTimeout of 0', { path: path.join(dir, 'a'), frameTimeout: 0 }],
    ['frameTimeout beyond 2^31 - 1 ms', { path: path.join(dir, 'a'), frameTimeout: 2 ** 31 }],
    ['name of 256 code points', { path: path.join(dir, 'a'), name: '🦊'.repeat(256) }]
  ]
  for (const [what, options] of bad) {
    await t.rejects(createReceiver(options), { code: 'ERR_HANDOFF_RECEIVER_OPTION' }, what)
  }
  t.same(fs.readdirSync(dir), [], 'nothing was created')
})

t.test('a TLS server (node:https, or a Fastify app with https) is refused: TLS state cannot move between processes', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const server = https.createServer()
  await t.rejects(createReceiver({ path: path.join(dir, 'a'), server }), { code: 'ERR_HANDOFF_RECEIVER_OPTION', message: /TLS/ }, 'node:https')
  const app = Fastify({ https: {} })
  await t.rejects(createReceiver({ path: path.join(dir, 'a'), server: app as unknown as FastifyLike }),
    { code: 'ERR_HANDOFF_RECEIVER_OPTION', message: /TLS/ }, 'a Fastify app with https')
  await app.close()
  t.same(fs.readdirSync(dir), [], 'nothing was created')
})

t.test('in-process: address, stats, close', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await createReceiver({ path: sockPath, maxConnections: 3 })
  t.equal(receiver.address, sockPath)
  t.same({ ...receiver.stats, decision: undefined }, {
    live: 0, total: 0, rejected: 0, peers: 0, untrustedPeers: 0, draining: false, rejectedBy: {}, liveByTarget: {}, senderConnections: 0, decision: undefined
  })
  t.match(receiver.stats.decision, { sum: 0, count: 0 })
  await receiver.drain()
  t.equal(receiver.stats.draining, true, 'drain() with nothing live resolves at once')
  await receiver.close()
  await receiver.close()
  t.notOk(fs.existsSync(sockPath), 'the socket file is gone')
})
