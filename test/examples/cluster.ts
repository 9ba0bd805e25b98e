// examples/cluster: two "hosts" (a web app and its siblings each, a socket
// directory each) behind a real HAProxy, the chat's fan-out through a real
// Redis. A message sent by a client on one host reaches a client on the
// other, for the ws chat and for socket.io (@socket.io/redis-adapter);
// socket.io's long polling is refused; Ctrl-C stops every process the
// example started. Without REDIS_URL one host serves alone, on an
// in-process bus.
import t, { type Test } from 'tap'
import { io, type Socket } from 'socket.io-client'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { alive, exitsWith, node, request, waitExit, wsClient, type Proc, type WsClient } from './helpers.js'

/** How many clients to open, at most, to get one on each host through the load balancer. */
const MAX_CLIENTS = 8
const WAIT_LIMIT_MS = 20000
const START_LIMIT_MS = 60000

function needs (t: Test): string | false {
  return prerequisite(t, { name: 'haproxy', available: hasCommand('haproxy', ['-v']), install: 'apt-get install haproxy' }) ||
    prerequisite(t, { name: 'redis-server', available: hasCommand('redis-server', ['--version']), install: 'apt-get install redis-server' }) ||
    prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' })
}

/** Rejects after `limitMs` with what was awaited: a hang becomes a failure that says what it waited for. */
function within<T> (what: string, promise: Promise<T>, limitMs = WAIT_LIMIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${limitMs} ms`)), limitMs) })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** Every pid the cluster printed: redis-server, haproxy, the hosts' web apps and their siblings. */
function pids (cluster: Proc): number[] {
  const out: number[] = []
  for (const line of cluster.lines) {
    const started = /^\[cluster\] started .*, pid (\d+)$/.exec(line.text)
    if (started !== null) out.push(Number(started[1]))
    const host = /^\[\w+ web \d+\] listening on \S+ \(chat (\d+), socket\.io (\d+)\)$/.exec(line.text)
    if (host !== null) out.push(Number(host[1]), Number(host[2]))
  }
  return out
}

/** ws chat clients through the load balancer until one is on each host: { a, b }. */
async function chatPerHost (t: Test, url: string): Promise<Record<string, WsClient>> {
  const byHost: Record<string, WsClient> = {}
  for (let i = 0; i < MAX_CLIENTS && Object.keys(byHost).length < 2; i++) {
    const client = wsClient(t, `${url}/chat?user=user${i}`)
    await within('chat connection', client.opened)
    const welcome = await within('chat welcome', client.next((m) => m.welcome !== undefined))
    t.equal(welcome.welcome, `user${i}`, 'the web app\'s context reached the sibling')
    byHost[welcome.host] ??= client
  }
  t.same(Object.keys(byHost).sort(), ['a', 'b'], 'HAProxy spread the chat clients over both hosts')
  return byHost
}

interface IoClient { socket: Socket, host: string, user: string, messages: any[], next: (pred: (m: any) => boolean) => Promise<any> }

function ioClient (t: Test, url: string, user: string): Promise<IoClient> {
  const socket = io(url, { transports: ['websocket'], query: { user }, reconnection: false, timeout: WAIT_LIMIT_MS })
  t.teardown(() => { socket.disconnect() })
  const messages: any[] = []
  let waiters: Array<() => void> = []
  socket.on('chat', (m) => { messages.push(m); const w = waiters; waiters = []; for (const f of w) f() })
  const next = async (pred: (m: any) => boolean): Promise<any> => {
    for (;;) {
      const found = messages.find(pred)
      if (found !== undefined) return found
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return within(`socket.io welcome for ${user}`, new Promise((resolve, reject) => {
    socket.once('welcome', (w: { host: string, user: string }) => resolve({ socket, host: w.host, user: w.user, messages, next }))
    socket.once('connect_error', reject)
  }))
}

t.test('cluster: cross-host delivery through HAProxy and Redis (ws chat and socket.io), then every process stops', { skip: needs(t) }, async (t) => {
  checkFdLeaks(t)
  const cluster = node(t, 'examples/cluster/run.js', ['--port', '0'])
  // Eight processes start: on a loaded machine that takes a while.
  const [, port] = await within('cluster ready', cluster.waitFor(/^\[cluster\] ready on http:\/\/127\.0\.0\.1:(\d+):/), START_LIMIT_MS)
    .catch((err: Error) => { throw new Error(`${err.message}; it printed:\n${cluster.text()}`) })
  const started = pids(cluster)
  t.equal(started.length, 2 + 2 * 3, 'redis-server, haproxy, and per host a web app and two siblings')

  // The ws chat: a message from a client on host a reaches the one on host b, and back.
  const chat = await chatPerHost(t, `ws://127.0.0.1:${port}`)
  let mark = chat.b.mark
  chat.a.ws.send('hello from a')
  t.match(await within('message from a on b', chat.b.next((m) => m.text === 'hello from a', mark)), { from: /^user\d+$/, host: 'a' }, 'a → b')
  mark = chat.a.mark
  chat.b.ws.send('hello from b')
  t.match(await within('message from b on a', chat.a.next((m) => m.text === 'hello from b', mark)), { host: 'b' }, 'b → a')

  // socket.io (WebSocket transport): io.emit() on one host reaches the other through the Redis adapter.
  const byHost: Record<string, IoClient> = {}
  for (let i = 0; i < MAX_CLIENTS && Object.keys(byHost).length < 2; i++) {
    const client = await ioClient(t, `http://127.0.0.1:${port}`, `io${i}`)
    t.equal(client.user, `io${i}`, 'the web app\'s context reached the socket.io handler')
    byHost[client.host] ??= client
  }
  t.same(Object.keys(byHost).sort(), ['a', 'b'], 'HAProxy spread the socket.io clients over both hosts')
  byHost.a.socket.emit('chat', 'io hello from a')
  t.match(await within('socket.io message from a on b', byHost.b.next((m) => m.text === 'io hello from a')),
    { from: byHost.a.user, host: 'a' }, 'socket.io a → b')

  // What does not move: a long-polling request is an ordinary request, refused.
  const polling = await request(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`)
  t.equal(polling.status, 400, 'socket.io long polling is refused: only the WebSocket transport is handed off')

  for (const client of Object.values(byHost)) client.socket.disconnect()
  cluster.kill('SIGINT')
  await exitsWith(t, cluster, 0)
  t.equal(cluster.count(/exited with/, 'stdout') + cluster.count(/exited with/, 'stderr'), 0, 'every process stopped cleanly', { output: cluster.text() })
  for (const pid of started) await within(`exit of ${pid}`, waitExit(pid))
  t.same(started.filter(alive), [], 'no process of the cluster is left')
})

t.test('one host without REDIS_URL: the in-process bus', { skip: prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' }) }, async (t) => {
  checkFdLeaks(t)
  const env = { REDIS_URL: '' }
  const host = node(t, 'examples/cluster/host.js', ['--name', 'solo', '--port', '0'], env)
  await within('in-process bus', host.waitFor(/^\[solo chat \d+\] serving \/chat on \S+, bus: in-process/), START_LIMIT_MS)
  const [, webPid, port, chatPid, ioPid] = await within('host listening', host.waitFor(/^\[solo web (\d+)\] listening on http:\/\/127\.0\.0\.1:(\d+) \(chat (\d+), socket\.io (\d+)\)$/), START_LIMIT_MS)
  const ann = wsClient(t, `ws://127.0.0.1:${port}/chat?user=ann`)
  const bob = wsClient(t, `ws://127.0.0.1:${port}/chat?user=bob`)
  await within('welcomes', Promise.all([ann.next((m) => m.welcome === 'ann'), bob.next((m) => m.welcome === 'bob')]))
  ann.ws.send('hi bob')
  t.match(await within('message on the same host', bob.next((m) => m.text === 'hi bob')), { from: 'ann', host: 'solo' })
  const plain = await request(`http://127.0.0.1:${port}/chat`)
  t.equal(plain.status, 426, 'a plain request to /chat is answered by the web app itself')

  host.kill('SIGINT')
  await exitsWith(t, host, 0)
  for (const pid of [webPid, chatPid, ioPid].map(Number)) await within(`exit of ${pid}`, waitExit(pid))
})
