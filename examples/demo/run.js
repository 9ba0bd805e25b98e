'use strict'
// `npm run demo`: starts the sibling WebSocket service (sibling.js) and the
// web app (webapp.js), prints the URL, and restarts the web app on demand
// while the WebSockets it handed off stay open. A restart starts the next
// generation of the web app while the current one serves: the new one takes
// the listening socket over (docs/zero-downtime.md), so no connection is
// refused; the old one then finishes its requests and exits on its own. If
// the new one fails before it is ready, the old one serves on.
//
//   node examples/demo/run.js [--port 3000] [--host 127.0.0.1]      (or env PORT, HOST)
//
//   r + Enter, kill -HUP <pid of run.js>, or the page's button: restart the web app
//   s + Enter, kill -USR2 <pid of run.js>, or the page's sibling button: restart the
//     sibling live (the new one takes its socket and every WebSocket over)
//   Ctrl-C (SIGINT) or SIGTERM: stop everything, remove the socket directory
//
// The Unix socket lives in a fresh private directory (mode 0700). The web
// app's session secret is made here and given to every generation, so a
// restarted web app still accepts the browser's cookie.
const { fork, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const STOP_TIMEOUT_MS = 5000

function usage (message) {
  if (message) console.error(`[run] ${message}`)
  console.error('usage: node examples/demo/run.js [--port N] [--host ADDRESS]   (env PORT, HOST; --port 0 picks a free port)')
  process.exit(2)
}

function parseFlags (argv) {
  const flags = { port: process.env.PORT ?? '3000', host: process.env.HOST ?? '127.0.0.1' }
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split('=', 2)
    if (name === '--help' || name === '-h') usage()
    if (name !== '--port' && name !== '--host') usage(`unknown flag ${argv[i]}`)
    const value = inline ?? argv[++i]
    if (value === undefined) usage(`${name} needs a value`)
    flags[name.slice(2)] = value
  }
  const port = Number(flags.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad port ${flags.port}`)
  return { port, host: flags.host }
}

const flags = parseFlags(process.argv.slice(2))
const log = (msg) => console.log(`[run] ${msg}`)

// No dist/ (npm install --ignore-scripts, or removed): compile the TypeScript once.
const ROOT = path.join(__dirname, '..', '..')
if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
  log('dist/ is missing: compiling the TypeScript (npm run build:ts)…')
  let tsc
  try { tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] }) } catch {
    console.error('[run] typescript is not installed: run `npm install`, then `npm run build:ts`')
    process.exit(1)
  }
  const built = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' })
  if (built.status !== 0) process.exit(1)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastify-handoff-demo-'))
fs.chmodSync(dir, 0o700)
const socketPath = path.join(dir, 'chat.sock')
const controlPath = path.join(dir, 'webapp.sock') // the web app's takeover socket
const siblingControlPath = path.join(dir, 'sibling.control') // the sibling's takeover socket
const secret = crypto.randomBytes(32).toString('hex')

/** A child process with IPC; `exited` resolves with { code, signal }. */
function start (name, file, env) {
  const child = fork(path.join(__dirname, file), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const proc = { name, child, pid: child.pid, exitInfo: null }
  proc.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    proc.exitInfo = { code, signal }
    resolve(proc.exitInfo)
  }))
  return proc
}

/**
 * The first IPC message of `proc` with `event`. If the process exits first:
 * rejects, or resolves with null when `orExit` is set.
 */
function waitEvent (proc, event, { orExit = false } = {}) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg && msg.event === event) { cleanup(); resolve(msg) }
    }
    const onExit = (code, signal) => {
      cleanup()
      if (orExit) resolve(null)
      else reject(new Error(`${proc.name} exited (${signal ?? code}) before "${event}"`))
    }
    const cleanup = () => { proc.child.off('message', onMessage); proc.child.off('exit', onExit) }
    if (proc.exitInfo) return onExit(proc.exitInfo.code, proc.exitInfo.signal)
    proc.child.on('message', onMessage)
    proc.child.once('exit', onExit)
  })
}

/** Asks `proc` to stop (once); SIGKILL after STOP_TIMEOUT_MS. Resolves with its exit. */
function stopProc (proc) {
  if (proc.stopped) return proc.stopped
  if (proc.exitInfo) return Promise.resolve(proc.exitInfo)
  if (proc.child.connected) proc.child.send({ cmd: 'stop' })
  // A retired web app has closed its IPC channel and is exiting by itself
  // (its last requests answered): wait for that, bounded below, rather than
  // cut it short with a signal.
  else if (!retired.has(proc)) proc.child.kill('SIGTERM')
  const timer = setTimeout(() => {
    log(`${proc.name} ${proc.pid} did not stop within ${STOP_TIMEOUT_MS} ms: killing it`)
    proc.child.kill('SIGKILL')
  }, STOP_TIMEOUT_MS)
  proc.stopped = proc.exited.then((exit) => {
    clearTimeout(timer)
    if (exit.code !== 0) {
      console.error(`[run] ${proc.name} ${proc.pid} exited with ${exit.signal ?? exit.code}`)
      failures++
    }
    return exit
  })
  return proc.stopped
}

let sibling = null
let webapp = null
const retired = new Set() // old web apps finishing their last requests
let failures = 0 // children that did not exit with 0 when asked to stop
let generation = 0 // the current web app's, as the takeover numbers them
let port = flags.port
let restarting = null
let stopping = null

async function startWebapp () {
  const proc = start(`web app #${generation + 1}`, 'webapp.js', {
    DEMO_SOCKET: socketPath,
    DEMO_CONTROL: controlPath,
    DEMO_PORT: String(port),
    DEMO_HOST: flags.host,
    DEMO_SECRET: secret
  })
  proc.child.on('message', (msg) => {
    if (msg && msg.event === 'restart-request') {
      log(`the page of ${msg.user} asked for a restart of web app ${proc.pid}`)
      restart()
    }
  })
  const listening = await waitEvent(proc, 'listening')
  generation = listening.generation
  port = listening.port // --port 0: every later generation takes the same port
  proc.exited.then(({ code, signal }) => {
    // During a restart the running web app exits 0 once its successor is
    // ready and its own last requests are answered, which can happen before
    // the successor's 'listening' message reaches us: a handover, not a crash.
    const handedOver = restarting !== null && code === 0
    if (proc === webapp && !stopping && !handedOver) {
      console.error(`[run] the web app ${proc.pid} exited on its own (${signal ?? code}): stopping the demo`)
      shutdown(1)
    }
  })
  webapp = proc
  return listening
}

function restart () {
  if (stopping) return Promise.resolve()
  if (restarting) return restarting
  restarting = (async () => {
    const old = webapp
    const t0 = Date.now()
    log(`restarting the web app: a new one takes port ${port} over from ${old.pid}…`)
    // The old process keeps listening until the new one is ready on the very
    // same socket; then it finishes the requests it is answering and exits.
    try {
      const { url } = await startWebapp()
      retired.add(old)
      old.exited.then(({ code, signal }) => {
        retired.delete(old)
        if (code !== 0) console.error(`[run] the retired web app ${old.pid} exited with ${signal ?? code}`)
      })
      log(`restart #${generation - 1} done in ${Date.now() - t0} ms: web app ${old.pid} → ${webapp.pid} on ${url}; ` +
        'the WebSockets it handed off were not touched')
    } catch (err) {
      // Rolled back: the new one failed before it was ready (it says why).
      console.error(`[run] restart failed, web app ${old.pid} serves on: ${err.message}`)
    }
  })().finally(() => { restarting = null })
  return restarting
}

// ── live sibling restarts (issue 14) ──
let siblingRestarts = 0
let siblingRestarting = null
const retiredSiblings = new Set() // old siblings serving what they kept until their hard stop

function startSiblingProc () {
  const proc = start('sibling', 'sibling.js', { DEMO_SOCKET: socketPath, DEMO_CONTROL: siblingControlPath })
  proc.child.on('message', (msg) => {
    if (msg && msg.event === 'sibling-restart-request') {
      log(`the page of ${msg.user} asked for a restart of sibling ${proc.pid}`)
      restartSibling()
    }
  })
  proc.exited.then(({ code, signal }) => {
    if (proc === sibling && !stopping) {
      console.error(`[run] the sibling exited (${signal ?? code}): stopping the demo`)
      shutdown(1)
    }
  })
  return proc
}

function restartSibling () {
  if (stopping) return Promise.resolve()
  if (siblingRestarting) return siblingRestarting
  siblingRestarting = (async () => {
    const old = sibling
    const t0 = Date.now()
    log(`restarting the sibling ${old.pid}: a new one takes over ${socketPath}…`)
    const moved = waitEvent(old, 'moved')
    const next = startSiblingProc()
    await waitEvent(next, 'ready')
    sibling = next
    retiredSiblings.add(old)
    old.exited.then(() => retiredSiblings.delete(old))
    const { report } = await moved
    siblingRestarts++
    const kept = Object.entries(report.kept).map(([reason, n]) => `${n} ${reason}`).join(', ') || 'none'
    log(`sibling restart #${siblingRestarts} done in ${Date.now() - t0} ms: sibling ${old.pid} → ${next.pid}; ` +
      `moved ${report.moved} WebSocket(s) in ${report.ms} ms, kept ${kept}, closed ${report.closed}`)
  })().catch((err) => {
    console.error(`[run] sibling restart failed: ${err.message}`)
    shutdown(1)
  }).finally(() => { siblingRestarting = null })
  return siblingRestarting
}

function shutdown (code) {
  if (stopping) return stopping
  stopping = (async () => {
    log('stopping…')
    if (restarting) await restarting.catch(() => {})
    if (siblingRestarting) await siblingRestarting.catch(() => {})
    // The web apps first (they stop handing off), then the sibling (it
    // closes the WebSockets it serves and removes its socket file).
    await Promise.all([webapp, ...retired].filter((p) => p !== null).map(stopProc))
    // A retired sibling that already let go of run.js is exiting on its own: wait for it.
    const exiting = [...retiredSiblings].filter((p) => !p.child.connected)
    if (sibling !== null) await Promise.all([sibling, ...[...retiredSiblings].filter((p) => !exiting.includes(p))].map(stopProc))
    await Promise.all(exiting.map((p) => Promise.race([p.exited, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))
      .then(() => stopProc(p))])))
    if (failures > 0) code = code || 1
    fs.rmSync(dir, { recursive: true, force: true })
    log(`stopped; removed ${dir}`)
    process.exitCode = code
    process.stdin.destroy()
    process.removeAllListeners('SIGHUP')
    process.removeAllListeners('SIGINT')
    process.removeAllListeners('SIGTERM')
  })()
  return stopping
}

async function main () {
  sibling = startSiblingProc()
  await waitEvent(sibling, 'ready')
  const { url } = await startWebapp()
  console.log([
    '',
    'fastify-handoff demo',
    `  sibling  pid ${sibling.pid}: Fastify + @fastify/websocket, receives handoffs on ${socketPath}`,
    `  web app  pid ${webapp.pid}: Fastify, authenticates /chat and hands it to the sibling`,
    '',
    `  open ${url}`,
    '',
    `  r + Enter (or kill -HUP ${process.pid}, or the page's button): restart the web app; open WebSockets stay open`,
    `  s + Enter (or kill -USR2 ${process.pid}, or the page's sibling button): restart the sibling; its WebSockets move to the new one`,
    '  Ctrl-C: stop',
    ''
  ].join('\n'))
  log(`ready: ${url}`)
}

// A second Ctrl-C while stopping: kill whatever is left at once.
function onStopSignal () {
  if (!stopping) return shutdown(0)
  log('killing what is left')
  for (const proc of [sibling, webapp, ...retired, ...retiredSiblings]) if (proc && !proc.exitInfo) proc.child.kill('SIGKILL')
}
process.on('SIGINT', onStopSignal)
process.on('SIGTERM', onStopSignal)
process.on('SIGHUP', () => { log('SIGHUP'); restart() })
process.on('SIGUSR2', () => { log('SIGUSR2'); restartSibling() })
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim().toLowerCase()
  if (cmd === 'r') restart()
  else if (cmd === 's') restartSibling()
  else if (cmd === 'q') shutdown(0)
  else if (cmd !== '') log('commands: r (restart the web app), s (restart the sibling live), q or Ctrl-C (stop)')
})

main().catch((err) => {
  console.error(`[run] error: ${err.message}`)
  shutdown(1)
})
