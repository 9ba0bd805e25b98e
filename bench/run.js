'use strict'
// npm run bench [-- --quick] [-- --only pass-rate,e2e] [-- --json-dir DIR] [-- --wait-quiet SECONDS]
//                [-- --charts-dir DIR] [-- --progress]
//
// Runs each benchmark of issue 7 in a process of its own, one after the
// other, each killed if it runs over its time bound, and prints their tables
// (Markdown). --quick runs tiny counts: a smoke test, the figures mean nothing.
// Then draws the charts (bench/lib/charts.js) into --charts-dir (default
// bench/results/; a --quick run draws them only when given one). Progress
// goes to stderr (bench/lib/progress.js): live on a terminal or with
// --progress, else a line as each benchmark starts and ends.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { parseArgs, machine, tempDir } = require('./lib/common.js')
const { createProgress, lineSplitter } = require('./lib/progress.js')
const { writeCharts } = require('./lib/charts.js')

const BENCHMARKS = [
  { name: 'pass-rate', file: 'pass-rate.js', what: '1. descriptor pass rate and cost' },
  { name: 'e2e', file: 'e2e.js', what: '2. end to end, connect -> first byte' },
  { name: 'stages', file: 'stages.js', what: '2b. connection setup, stage by stage' },
  { name: 'e2e-ws', file: 'e2e.js', args: ['--app', 'ws-hello'], what: '2c. end to end on Fastify + @fastify/websocket, connect -> first WebSocket message' },
  { name: 'stages-ws', file: 'stages.js', args: ['--app', 'ws-hello'], what: '2d. connection setup on Fastify + @fastify/websocket, stage by stage' },
  { name: 'ws-echo', file: 'ws-echo.js', what: '3. after the handoff: WebSocket echo' },
  { name: 'stability', file: 'stability.js', what: '4. stability: 100,000 handoffs' },
  { name: 'scale', file: 'scale.js', what: '5. scale: 10,000 WebSockets held by one sibling' },
  { name: 'pool', file: 'pool.js', what: '6. scale: pools of 1, 2 and 4 siblings' },
  { name: 'migrate', file: 'migrate.js', what: 'issue 14: live migration of 1,000 and 10,000 WebSockets to a new sibling' }
]

const args = parseArgs()
const quick = args.quick
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null
const LIMIT_MS = quick ? 60000 : 120000
// The charts read the benchmarks' JSON: into a temporary directory unless kept (--json-dir).
const jsonDir = typeof args['json-dir'] === 'string' ? args['json-dir'] : tempDir('handoff-bench-json-')
const chartsDir = typeof args['charts-dir'] === 'string' ? args['charts-dir'] : quick ? null : path.join(__dirname, 'results')
const progress = createProgress({
  stream: process.stderr,
  live: process.stderr.isTTY === true,
  verbose: args.progress === true,
  total: BENCHMARKS.filter((b) => only === null || only.has(b.name)).length
})

function loadavg () { return os.loadavg().map((x) => x.toFixed(2)).join(' ') }

/** Share of the machine's CPU time that was busy over the next `ms` (everyone's, from /proc/stat). */
async function busy (ms = 1000) {
  const read = () => {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] || 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const b = read()
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total)
}

/**
 * --wait-quiet S: before each benchmark, wait (at most S seconds) until the
 * machine is at most 25 % busy with other work, since on a shared machine the
 * figures mostly measure the neighbours otherwise. Returns the busy share seen.
 */
async function waitQuiet (seconds) {
  const until = Date.now() + seconds * 1000
  let b = await busy()
  while (b > 0.25 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 4000))
    b = await busy()
  }
  return b
}

function runOne (b) {
  return new Promise((resolve) => {
    const childArgs = [path.join(__dirname, b.file), ...(b.args ?? [])]
    if (quick) childArgs.push('--quick')
    childArgs.push('--json', path.join(jsonDir, `${b.name}.json`))
    const started = Date.now()
    // Its output comes through here so that a status line on the terminal
    // never lands inside a table; the bytes of stdout are passed on unchanged.
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_PROGRESS: '1' } })
    const err = lineSplitter((done, total) => progress.round(done, total), (text) => progress.passOn(text))
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (text) => progress.passOn(text, process.stdout))
    child.stderr.on('data', (text) => err.push(text))
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, LIMIT_MS)
    // A killed benchmark's own children may still hold the pipes: 'close'
    // would wait for them, so the pipes are let go 5 s after its exit.
    child.on('exit', () => { setTimeout(() => { child.stdout.destroy(); child.stderr.destroy() }, 5000).unref() })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      err.flush()
      resolve({ code, signal, timedOut, seconds: (Date.now() - started) / 1000 })
    })
  })
}

async function main () {
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'channel.js'))) {
    console.error('dist/ is missing: run `npm install` (or `npm run compile`) first')
    process.exit(1)
  }
  fs.mkdirSync(jsonDir, { recursive: true })
  const m = machine()
  const startLoad = loadavg()
  console.log(`# fastify-handoff benchmarks${quick ? ' (--quick: smoke run, tiny counts, figures mean nothing)' : ''}`)
  console.log('')
  console.log(`machine: ${m.nproc} CPUs, ${m.model}, Linux ${m.kernel}, Node ${m.node}`)
  console.log(`load average at start: ${startLoad}`)
  console.log('')
  const summary = []
  let index = 0
  for (const b of BENCHMARKS) {
    if (only && !only.has(b.name)) continue
    index++
    console.log(`## ${b.what} (bench/${b.file})`)
    console.log('')
    if (!quick) {
      const waitFor = Number(args['wait-quiet'] ?? 0)
      const b0 = waitFor > 0 ? await waitQuiet(waitFor) : await busy()
      console.log(`(machine ${(b0 * 100).toFixed(0)} % busy with other work just before; load average ${loadavg()})`)
      console.log('')
    }
    progress.start(index, b.name, LIMIT_MS)
    const r = await runOne(b)
    const status = r.timedOut ? `KILLED after ${LIMIT_MS / 1000} s` : r.code === 0 ? 'ok' : `FAILED (exit ${r.code ?? r.signal})`
    progress.end(status, r.seconds)
    summary.push([b.name, status, r.seconds.toFixed(1)])
    console.log(`(${b.name}: ${status}, ${r.seconds.toFixed(1)} s; load average ${loadavg()})`)
    console.log('')
  }
  console.log('## Summary')
  console.log('')
  console.log('| benchmark | status | seconds |')
  console.log('| --- | --- | --- |')
  for (const [n, s, t] of summary) console.log(`| ${n} | ${s} | ${t} |`)
  if (chartsDir !== null) {
    const note = `${new Date().toISOString().slice(0, 10)}, ${m.nproc} CPUs, load average ${startLoad} at start${quick ? '; --quick: figures mean nothing' : ''}`
    const charts = writeCharts(jsonDir, chartsDir, { note })
    if (charts.length > 0) {
      console.log('')
      console.log('## Charts')
      console.log('')
      for (const c of charts) {
        const rel = path.relative(process.cwd(), c.file)
        console.log(`![${c.title}](${rel.startsWith('..') ? c.file : rel})`)
      }
    }
  }
  if (summary.some(([, s]) => s !== 'ok')) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
