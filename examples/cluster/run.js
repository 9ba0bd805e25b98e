'use strict'
// The whole cluster on one machine: Redis, two hosts (host.js: a web app and
// its siblings each, a socket directory each), HAProxy in front.
//
//   node examples/cluster/run.js [--port 3100]     (needs haproxy and redis-server;
//                                                   REDIS_URL: use that Redis instead)
//
// Ctrl-C (or SIGTERM) stops everything it started, in reverse order.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { flag } = require('../lib/example.js')
const { haproxyConfig } = require('./haproxy.js')

const START_LIMIT_MS = 45000
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-cluster-'))
const started = [] // { name, proc, exited }, in start order

/** A port that was free a moment ago (redis-server and haproxy need a number). */
function freePort () {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** Starts `command`, forwarding its output; resolves with the first stdout line matching `ready`. */
function start (name, command, args, ready, env = {}) {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)))
  started.push({ name, proc, exited })
  console.log(`[cluster] started ${name}, pid ${proc.pid}`)
  readline.createInterface({ input: proc.stderr }).on('line', (line) => console.error(`${name}: ${line}`))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${START_LIMIT_MS} ms`)), START_LIMIT_MS)
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      console.log(line)
      const match = ready.exec(line)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match)
      }
    })
    exited.then((code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}) before it was ready`)) })
  })
}

/** Resolves once something accepts connections on `port` (HAProxy says nothing when it is up). */
async function accepting (port) {
  const deadline = Date.now() + START_LIMIT_MS
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() >= deadline) throw new Error(`nothing accepted connections on port ${port} within ${START_LIMIT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function main () {
  let redisUrl = process.env.REDIS_URL
  if (!redisUrl) {
    const port = await freePort()
    // No persistence, loopback only, in a directory of its own: a scratch Redis.
    await start('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      /Ready to accept connections/)
    redisUrl = `redis://127.0.0.1:${port}`
  }
  const hosts = await Promise.all(['a', 'b'].map(async (name) => {
    const [, port] = await start(`host ${name}`, process.execPath, [path.join(__dirname, 'host.js'), '--name', name, '--port', '0'],
      new RegExp(`^\\[${name} web \\d+\\] listening on http://127\\.0\\.0\\.1:(\\d+)`), { REDIS_URL: redisUrl })
    return { name, port: Number(port) }
  }))
  const port = flag('port', process.env.PORT ?? 3100) || await freePort()
  const config = path.join(dir, 'haproxy.cfg')
  fs.writeFileSync(config, haproxyConfig({ port, hosts }))
  // -db: in the foreground, no daemon; it stops on SIGTERM (or SIGINT).
  start('haproxy', 'haproxy', ['-db', '-f', config], /$^/).catch(() => {})
  await accepting(port)
  console.log(`[cluster] ready on http://127.0.0.1:${port}: chat ws://127.0.0.1:${port}/chat?user=NAME, socket.io http://127.0.0.1:${port} (WebSocket transport); ` +
    `hosts ${hosts.map((h) => `${h.name}=${h.port}`).join(' ')}; ${redisUrl}`)
}

let stopping = null
function stop (code) {
  stopping ??= (async () => {
    for (const { name, proc, exited } of [...started].reverse()) {
      proc.kill('SIGTERM')
      const result = await exited
      if (result !== 0 && result !== 'SIGTERM' && result !== 143) {
        console.error(`[cluster] ${name} exited with ${result}`)
        code = 1
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
    console.log('[cluster] stopped')
    process.exitCode = code
  })()
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))
main().catch((err) => {
  console.error(`[cluster] ${err.message}`)
  stop(1)
})
