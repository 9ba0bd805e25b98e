// examples/cluster: two "hosts" (a web app and its siblings each, a socket
// directory each) behind a real HAProxy, the chat's fan-out through a real
// Redis. A message sent by a client on one host reaches a client on the
// other, for the ws chat and for socket.io (@socket.io/redis-adapter);
// socket.io's long polling is refused; Ctrl-C stops every process the
// example started. A host restarts its web app and then its siblings with
// clients connected to both hosts: no client closes, nothing is refused,
// cross-host delivery goes on. Without REDIS_URL one host serves alone, on
// an in-process bus.
import t, { type Test } from 'tap'
import { io, type Socket } from 'socket.io-client'
import WebSocket from 'ws'
import { checkFdLeaks, fdsBackTo, openFds } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { alive, exitsWith, node, request, waitExit, within, wsClient, WsClient, type Proc } from './helpers.js'

// Three clusters of up to ten processes each start and stop here; on a
// loaded machine the file needs more than the runner's default limit.
t.setTimeout(300000)

/** How many clients to open, at most, to get one on each host through the load balancer. */
const MAX_CLIENTS = 8
const WAIT_LIMIT_MS = 20000
const START_LIMIT_MS = 60000

function needs (t: Test): string | false {
  return prerequisite(t, { name: 'haproxy', available: hasCommand('haproxy', ['-v']), install: 'apt-get install haproxy' }) ||
    prerequisite(t, { name: 'redis-server', available: hasCommand('redis-server', ['--version']), install: 'apt-get install redis-server' }) ||
    prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' })
}

/** Every pid the cluster printed: redis-server, haproxy, the hosts, their web apps and siblings, and what restarts started. */
function pids (cluster: Proc): number[] {
  const out: number[] = []
  for (const line of cluster.lines) {
    const started = /^\[cluster\] started .*, pid (\d+)$/.exec(line.text)
    if (started !== null) out.push(Number(started[1]))
    const host = /^\[\w+ web (\d+)\] listening on \S+ \(chat (\d+), socket\.io (\d+)\)$/.exec(line.text)
    if (host !== null) out.push(Number(host[1]), Number(host[2]), Number(host[3]))
    const restarted = /^\[\w+\] (?:web app|chat sibling|socket\.io sibling) \d+ → (\d+)/.exec(line.text)
    if (restarted !== null) out.push(Number(restarted[1]))
  }
  return out
}

/** ws chat clients through the load balancer until `each` are on each host: { a: [...], b: [...] }. */
async function chatByHost (t: Test, url: string, each: number): Promise<Record<string, WsClient[]>> {
  const byHost: Record<string, WsClient[]> = { a: [], b: [] }
  const enough = (): boolean => byHost.a.length >= each && byHost.b.length >= each
  for (let i = 0; i < MAX_CLIENTS * each && !enough(); i++) {
    const client = wsClient(t, `${url}/chat?user=user${i}`)
    await within('chat connection', client.opened)
    const welcome = await within('chat welcome', client.next((m) => m.welcome !== undefined))
    t.equal(welcome.welcome, `user${i}`, 'the web app\'s context reached the sibling')
    byHost[welcome.host].push(client)
  }
  t.ok(enough(), `HAProxy spread the chat clients over both hosts (${byHost.a.length} on a, ${byHost.b.length} on b)`)
  return byHost
}

/** One ws chat client through the load balancer on each host: { a, b }. */
async function chatPerHost (t: Test, url: string): Promise<Record<string, WsClient>> {
  const { a, b } = await chatByHost(t, url, 1)
  return { a: a[0], b: b[0] }
}

/** Starts examples/cluster/run.js; resolves once HAProxy accepts, with its port, the hosts' ports and pids. */
async function startCluster (t: Test, env: NodeJS.ProcessEnv = {}): Promise<{ cluster: Proc, port: number, hosts: Record<string, { port: number, pid: number }> }> {
  const cluster = node(t, 'examples/cluster/run.js', ['--port', '0'], env)
  // Eight processes start: on a loaded machine that takes a while.
  const [, port, a, b] = await within('cluster ready', cluster.waitFor(/^\[cluster\] ready on http:\/\/127\.0\.0\.1:(\d+):.* hosts a=(\d+) b=(\d+);/), START_LIMIT_MS)
    .catch((err: Error) => { throw new Error(`${err.message}; it printed:\n${cluster.text()}`) })
  const pidOf = async (name: string): Promise<number> => Number((await cluster.waitFor(new RegExp(`^\\[cluster\\] started host ${name}, pid (\\d+)$`)))[1])
  return { cluster, port: Number(port), hosts: { a: { port: Number(a), pid: await pidOf('a') }, b: { port: Number(b), pid: await pidOf('b') } } }
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
  const { cluster, port } = await startCluster(t)
  const started = pids(cluster)
  t.equal(started.length, 2 + 2 * 4, 'redis-server, haproxy, and per host: host.js, a web app and two siblings')

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

/** Chat clients per host kept open through the restarts (two: more than one WebSocket moves). */
const KEPT_PER_HOST = 2
/** Upper bounds of each load loop during the restarts: rounds, time, and the pause between two rounds. */
const LOAD_ROUNDS = 4000
const LOAD_LIMIT_MS = 120000
const LOAD_PACE_MS = 10

/**
 * New work while host a restarts, until stop(): requests to /health through
 * HAProxy and straight to host a, and new chat WebSockets straight to host a
 * (HAProxy would retry a refused connection and hide it), each waited for in
 * turn. Bounded in rounds and time, each wait too; a failure is recorded, not thrown.
 */
function loadDuring (hosts: { port: number, a: number }): { stop: () => Promise<{ served: Record<string, number>, failed: string[] }> } {
  const state = { stopping: false }
  const served: Record<string, number> = { proxied: 0, direct: 0, websocket: 0 }
  const failed: string[] = []
  const deadline = Date.now() + LOAD_LIMIT_MS
  const loop = async (kind: string, once: () => Promise<void>): Promise<void> => {
    for (let i = 0; i < LOAD_ROUNDS && !state.stopping && Date.now() < deadline; i++) {
      try {
        await once()
        served[kind]++
      } catch (err) {
        failed.push(`${kind}: ${(err as Error).message}`)
      }
      // Pacing, not synchronisation: a trickle of new work over the whole restart window, not a flood of a loaded machine.
      await new Promise((resolve) => setTimeout(resolve, LOAD_PACE_MS))
    }
    if (!state.stopping) failed.push(`${kind}: the load loop reached its bound before the restarts ended`)
  }
  const health = (port: number) => async () => {
    const res = await within(`GET /health on ${port}`, request(`http://127.0.0.1:${port}/health`))
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
  }
  const websocket = async (): Promise<void> => {
    const client = new WsClient(`ws://127.0.0.1:${hosts.a}/chat?user=load`)
    try {
      await within('load WebSocket open', client.opened)
      await within('load WebSocket welcome', client.next((m) => m.welcome === 'load'))
    } finally {
      await client.stop()
    }
  }
  const loops = Promise.all([loop('proxied', health(hosts.port)), loop('direct', health(hosts.a)), loop('websocket', websocket)])
  return { stop: async () => { state.stopping = true; await loops; return { served, failed } } }
}

t.test('cluster: host a restarts its web app, then its siblings, with clients on both hosts: none closes, nothing is refused, cross-host delivery goes on', { skip: needs(t) }, async (t) => {
  checkFdLeaks(t)
  const { cluster, port, hosts } = await startCluster(t)
  const before = pids(cluster)
  const [, webA, chatA, ioA] = (await cluster.waitFor(/^\[a web (\d+)\] listening on \S+ \(chat (\d+), socket\.io (\d+)\)$/)).map(Number)

  // Clients on both hosts, exchanging messages through Redis.
  const chat = await chatByHost(t, `ws://127.0.0.1:${port}`, KEPT_PER_HOST)
  const kept = [...chat.a, ...chat.b]
  const ioA1 = await ioClient(t, `http://127.0.0.1:${hosts.a.port}`, 'io-a')
  const ioB1 = await ioClient(t, `http://127.0.0.1:${hosts.b.port}`, 'io-b')
  t.same([ioA1.host, ioB1.host], ['a', 'b'], 'a socket.io client on each host')
  const marks = chat.b.map((c) => c.mark)
  chat.a[0].ws.send('before')
  await within('a → b before the restarts', Promise.all(chat.b.map((c, i) => c.next((m) => m.text === 'before', marks[i]))))

  // Chatter from both hosts throughout the restarts (not awaited: the bus keeps nothing for a connection on its way).
  const chatter = setInterval(() => { for (const c of kept) if (c.ws.readyState === WebSocket.OPEN) c.ws.send('chatter') }, 50)
  const load = loadDuring({ port, a: hosts.a.port })
  let newChatPid = 0
  try {
    let mark = cluster.mark
    process.kill(hosts.a.pid, 'SIGHUP')
    const [, oldWeb, newWeb] = (await within('the web app restart', cluster.waitFor(/^\[a\] web app (\d+) → (\d+) \(generation 2\)/, { after: mark }), START_LIMIT_MS)).map(Number)
    t.equal(oldWeb, webA, 'the web app of host a restarted')
    t.not(newWeb, webA, 'a new web app serves host a')

    mark = cluster.mark
    process.kill(hosts.a.pid, 'SIGUSR2')
    const [, oldChat, newChat, moved, keptChat] = await within('the chat sibling restart',
      cluster.waitFor(/^\[a\] chat sibling (\d+) → (\d+): moved (\d+), kept (\S+), closed 0$/, { after: mark }), START_LIMIT_MS)
    t.equal(Number(oldChat), chatA, 'the chat sibling of host a restarted')
    t.ok(Number(moved) >= chat.a.length, `its WebSockets moved to the new one (${moved} moved, ${chat.a.length} of them ours)`)
    t.equal(keptChat, '{}', 'none stayed with the old one')
    newChatPid = Number(newChat)
    const [, oldIo, newIo] = (await within('the socket.io sibling restart',
      cluster.waitFor(/^\[a\] socket\.io sibling (\d+) → (\d+): moved 0/, { after: mark }), START_LIMIT_MS)).map(Number)
    t.equal(oldIo, ioA, 'the socket.io sibling of host a restarted')

    // Cross-host delivery after: each way, with the clients that were moved.
    const fromA = chat.b.map((c) => c.mark)
    chat.a[0].ws.send('after from a')
    const gotA = await within('a → b after', Promise.all(chat.b.map((c, i) => c.next((m) => m.text === 'after from a', fromA[i]))))
    t.same(gotA.map((m) => m.pid), chat.b.map(() => Number(newChat)), 'a moved client is served by the new chat sibling, and its message reaches host b')
    const fromB = chat.a.map((c) => c.mark)
    chat.b[0].ws.send('after from b')
    await within('b → a after', Promise.all(chat.a.map((c, i) => c.next((m) => m.text === 'after from b', fromB[i]))))
    t.pass('host b\'s message reaches every moved client on host a')

    // socket.io does not move: the old sibling serves its client on; a new client reaches the new one.
    const ioA2 = await ioClient(t, `http://127.0.0.1:${hosts.a.port}`, 'io-a2')
    t.equal(ioA2.host, 'a', 'a new socket.io client on host a')
    t.ok(ioA1.socket.connected, 'the socket.io client of the old sibling is still connected (it is served until it leaves)')
    ioA1.socket.emit('chat', 'io from the old sibling')
    await within('socket.io old a → b', ioB1.next((m) => m.text === 'io from the old sibling'))
    ioA2.socket.emit('chat', 'io from the new sibling')
    await within('socket.io new a → b', ioB1.next((m) => m.text === 'io from the new sibling'))
    t.pass(`socket.io messages from host a's old (${oldIo}) and new (${newIo}) siblings reach host b`)
  } finally {
    clearInterval(chatter)
    const { served, failed } = await load.stop()
    t.same(failed, [], `nothing was refused or failed during the restarts (served ${JSON.stringify(served)})`)
    t.ok(served.proxied > 0 && served.direct > 0 && served.websocket > 0, 'new requests and WebSockets were served during the restarts')
  }
  t.same(kept.filter((c) => c.ws.readyState !== WebSocket.OPEN).length, 0, 'no chat client closed')

  // The moved descriptors are the new sibling's own: it closes each when its client goes.
  const open = openFds(newChatPid).length
  for (const c of chat.a) await c.stop()
  t.equal(await fdsBackTo(newChatPid, open - chat.a.length), open - chat.a.length, `the new chat sibling (${newChatPid}) released the descriptors of its closed clients`)

  ioA1.socket.disconnect()
  const all = pids(cluster)
  t.equal(all.length, before.length + 3, 'the restarts started a web app and two siblings, each printed')
  for (const old of [webA, chatA, ioA]) await within(`exit of the retired ${old}`, waitExit(old), START_LIMIT_MS)
  t.pass('the retired web app and siblings of host a exited by themselves')
  for (const client of Object.values(chat).flat()) await client.stop()
  for (const client of [ioA1, ioB1]) client.socket.disconnect()
  cluster.kill('SIGINT')
  await exitsWith(t, cluster, 0)
  t.equal(cluster.count(/exited with/, 'stdout') + cluster.count(/exited with/, 'stderr'), 0, 'every process stopped cleanly', { output: cluster.text() })
  for (const pid of all) await within(`exit of ${pid}`, waitExit(pid))
  t.same(all.filter(alive), [], 'no process of the cluster is left')
})

t.test('one host without REDIS_URL: the in-process bus', { skip: prerequisite(t, { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' }) }, async (t) => {
  checkFdLeaks(t)
  const env = { REDIS_URL: '' }
  const host = node(t, 'examples/cluster/host.js', ['--name', 'solo', '--port', '0'], env)
  await within('in-process bus', host.waitFor(/^\[solo chat \d+\] serving \/chat on \S+ \(generation 1\), bus: in-process/), START_LIMIT_MS)
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
