'use strict'
// node bench/fuzz.js [--frames N] [--seed S] [--limit-ms MS]
//
// The fault suite's fuzz (test/faults/fuzz.test.ts) for longer runs: the real
// receiver (test/fixtures/receiver-ws.js) against the hostile sender
// (test/fixtures/fuzz-sender.js), N frames from seed S (default: 100,000
// frames, a random seed, printed first so that a failure can be replayed).
// Not one of `npm run bench`'s benchmarks: it measures nothing, it checks.
// Exits 1 if a frame got an answer the protocol does not prescribe, a genuine
// handoff was not served, or a process ends with more or fewer descriptors
// than it started with. Run `npm run build:ts` first (the fixtures load dist/).
const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs, num } = require('./lib/common.js')

const FIXTURES = path.join(__dirname, '..', 'test', 'fixtures')
const args = parseArgs()
const frames = num(args.frames, 100000)
const seed = num(args.seed, Math.floor(Math.random() * 2 ** 31))
const limitMs = num(args['limit-ms'], 5000)

const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length

/** The first IPC message of `child` that matches, or a rejection if it exits first. */
function message (child, match) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => { if (match(m)) { child.off('message', onMessage); child.off('exit', onExit); resolve(m) } }
    const onExit = (code, signal) => reject(new Error(`${child.spawnfile} exited (${code ?? signal}) before answering`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Polls /proc/<pid>/fd until it lists `want` (bounded), and says what it saw. */
async function settle (pid, want) {
  const deadline = Date.now() + 10000
  let n = fdCount(pid)
  while (n !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    n = fdCount(pid)
  }
  return n
}

async function main () {
  console.log(`fuzz: ${frames} frames, seed ${seed} (replay: node bench/fuzz.js --frames ${frames} --seed ${seed})`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-fuzz-'))
  const sockPath = path.join(dir, 'r.sock')
  const opts = { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }
  const receiver = fork(path.join(FIXTURES, 'receiver-ws.js'), [JSON.stringify({ path: sockPath })], opts)
  const children = [receiver]
  try {
    await message(receiver, (m) => m.event === 'ready')
    const receiverFds = fdCount(receiver.pid)
    const fuzzer = fork(path.join(FIXTURES, 'fuzz-sender.js'),
      [JSON.stringify({ path: sockPath, frames, seed, dir, receiverPid: receiver.pid, verdictLimitMs: limitMs })], opts)
    children.push(fuzzer)
    const done = await message(fuzzer, (m) => m.event === 'done')
    receiver.send({ cmd: 'idle' })
    await message(receiver, (m) => m.reply === 'idle')
    const after = { receiver: await settle(receiver.pid, receiverFds), fuzzer: await settle(fuzzer.pid, done.fdsBefore) }
    receiver.send({ cmd: 'stats' })
    const { stats } = await message(receiver, (m) => m.reply === 'stats')
    console.log(`${done.frames} frames, ${done.descriptors} descriptors, ${done.genuine} genuine handoffs (${done.served} served), ` +
      `${done.reconnects} channels dropped and reopened, ${done.ms} ms`)
    console.log(`pool: ${done.pool.join(', ')}`)
    console.log(`categories: ${JSON.stringify(done.categories)}`)
    console.log(`answers: ${JSON.stringify(done.verdicts)}`)
    console.log(`descriptors: receiver ${receiverFds} -> ${after.receiver}, fuzzer ${done.fdsBefore} -> ${after.fuzzer}; receiver accepted ${stats.total}`)
    const failures = []
    if (done.mismatches.length > 0) failures.push(`unexpected answers: ${JSON.stringify(done.mismatches)}`)
    if (done.served !== done.genuine) failures.push(`${done.genuine - done.served} genuine handoffs not served`)
    if (stats.total !== done.genuine) failures.push(`the receiver accepted ${stats.total}, not the ${done.genuine} genuine handoffs`)
    if (after.receiver !== receiverFds) failures.push(`receiver descriptors ${receiverFds} -> ${after.receiver}`)
    if (after.fuzzer !== done.fdsBefore || done.fdsAfter !== done.fdsBefore) failures.push(`fuzzer descriptors ${done.fdsBefore} -> ${after.fuzzer}`)
    fuzzer.send({ cmd: 'exit' })
    receiver.send({ cmd: 'close' })
    await Promise.all(children.map((c) => new Promise((resolve) => c.exitCode !== null ? resolve() : c.once('exit', resolve))))
    if (failures.length > 0) {
      console.error(`FAILED (seed ${seed}):\n  ${failures.join('\n  ')}`)
      process.exitCode = 1
    } else {
      console.log('ok')
    }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err.stack)
  process.exitCode = 1
})
