'use strict'
// The whole demo in one command (`npm run demo:seed`): uds-server, then
// tcp-server, then tcp-client. Exits 0 when every client read "hello" and
// uds-server read every "HELLO"; stops its children and removes the socket
// file in any case. Takes the same flags as the programs.
//
//   node examples/seed-demo/run.js [--port 8888] [--host 127.0.0.1] [--uds PATH] [--count N] [--protocol seed|full]
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')
const { parseFlags } = require('./common.js')

const flags = parseFlags()
// A safety net for a stuck demo, generous for a busy machine.
const TIMEOUT_MS = 60000 + 1000 * flags.count

const children = []
let socketCreated = false

function start (name, args) {
  const child = spawn(process.execPath, [path.join(__dirname, `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const entry = { name, child, lines: [], exited: null }
  entry.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      entry.lines.push(line)
      out.write(`${line}\n`)
      for (const w of entry.waiters ?? []) w(line)
    })
  }
  children.push(entry)
  return entry
}

/** Resolves with the match once `entry` prints a line matching `re`; rejects if it exits first. */
function waitFor (entry, re) {
  return new Promise((resolve, reject) => {
    for (const line of entry.lines) {
      const m = re.exec(line)
      if (m) return resolve(m)
    }
    entry.waiters = entry.waiters ?? []
    entry.waiters.push((line) => {
      const m = re.exec(line)
      if (m) resolve(m)
    })
    entry.exited.then(({ code, signal }) => reject(new Error(`${entry.name} exited (${signal ?? code}) before printing ${re}`)))
  })
}

function count (entry, re) {
  return entry.lines.filter((line) => re.test(line)).length
}

async function run () {
  const common = ['--host', flags.host, '--uds', flags.uds, '--count', String(flags.count), '--protocol', flags.protocol]
  const uds = start('uds-server', common)
  await waitFor(uds, /^\[uds-server\] listening on /)
  socketCreated = true
  const tcp = start('tcp-server', [...common, '--port', String(flags.port)])
  const [, port] = await waitFor(tcp, /^\[tcp-server\] listening on .*:(\d+) /)
  const client = start('tcp-client', [...common, '--port', port])
  const results = await Promise.all(children.map(async (c) => ({ c, ...(await c.exited) })))
  let ok = true
  for (const { c, code, signal } of results) {
    if (code !== 0) {
      ok = false
      console.error(`[run] ${c.name} exited with ${signal ?? code}`)
    }
  }
  const hellos = count(client, /^\[tcp-client\] read: hello$/)
  const answers = count(uds, /^\[uds-server\] read: HELLO$/)
  if (hellos !== flags.count || answers !== flags.count) {
    ok = false
    console.error(`[run] expected ${flags.count} hello / HELLO, got ${hellos} / ${answers}`)
  }
  return ok
}

async function cleanup () {
  for (const { child } of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  await Promise.all(children.map((c) => c.exited))
  // Ours, and nobody listens on it any more (uds-server exited): remove it if left behind.
  if (socketCreated) fs.rmSync(flags.uds, { force: true })
}

let timer
const timeout = new Promise((resolve) => {
  timer = setTimeout(() => {
    console.error(`[run] timed out after ${TIMEOUT_MS} ms`)
    resolve(false)
  }, TIMEOUT_MS)
})
process.once('SIGINT', () => { cleanup().then(() => process.exit(130)) })

Promise.race([run(), timeout])
  .catch((err) => {
    console.error(`[run] ${err.message}`)
    return false
  })
  .then(async (ok) => {
    clearTimeout(timer)
    await cleanup()
    console.log(ok ? `[run] ok: the client got hello, uds-server got HELLO (${flags.count} connection(s), ${flags.protocol === 'full' ? 'full protocol' : 'seed format'})` : '[run] FAILED')
    process.exitCode = ok ? 0 : 1
  })
