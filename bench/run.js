'use strict'
// npm run bench [-- --quick] [-- --only pass-rate,e2e] [-- --json-dir DIR]
//
// Runs each benchmark of issue 7 in a process of its own, one after the
// other, each killed if it runs over its time bound, and prints their tables
// (Markdown). --quick runs tiny counts: a smoke test, the figures mean nothing.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { parseArgs, machine } = require('./lib/common.js')

const BENCHMARKS = [
  { name: 'pass-rate', file: 'pass-rate.js', what: '1. descriptor pass rate and cost' },
  { name: 'e2e', file: 'e2e.js', what: '2. end to end, connect -> first byte' },
  { name: 'ws-echo', file: 'ws-echo.js', what: '3. after the handoff: WebSocket echo' },
  { name: 'stability', file: 'stability.js', what: '4. stability: 100,000 handoffs' },
  { name: 'scale', file: 'scale.js', what: '5. scale: 10,000 WebSockets held by one sibling' }
]

const args = parseArgs()
const quick = args.quick
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null
const LIMIT_MS = quick ? 60000 : 120000

function loadavg () { return os.loadavg().map((x) => x.toFixed(2)).join(' ') }

function runOne (b) {
  return new Promise((resolve) => {
    const childArgs = [path.join(__dirname, b.file)]
    if (quick) childArgs.push('--quick')
    if (typeof args['json-dir'] === 'string') childArgs.push('--json', path.join(args['json-dir'], `${b.name}.json`))
    const started = Date.now()
    const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'inherit', 'inherit'] })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, LIMIT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, seconds: (Date.now() - started) / 1000 })
    })
  })
}

async function main () {
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'channel.js'))) {
    console.error('dist/ is missing: run `npm run build` first')
    process.exit(1)
  }
  if (typeof args['json-dir'] === 'string') fs.mkdirSync(args['json-dir'], { recursive: true })
  const m = machine()
  console.log(`# fastify-handoff benchmarks${quick ? ' (--quick: smoke run, tiny counts, figures mean nothing)' : ''}`)
  console.log('')
  console.log(`machine: ${m.nproc} CPUs, ${m.model}, Linux ${m.kernel}, Node ${m.node}`)
  console.log(`load average at start: ${loadavg()}`)
  console.log('')
  const summary = []
  for (const b of BENCHMARKS) {
    if (only && !only.has(b.name)) continue
    console.log(`## ${b.what} (bench/${b.file})`)
    console.log('')
    const r = await runOne(b)
    const status = r.timedOut ? `KILLED after ${LIMIT_MS / 1000} s` : r.code === 0 ? 'ok' : `FAILED (exit ${r.code ?? r.signal})`
    summary.push([b.name, status, r.seconds.toFixed(1)])
    console.log(`(${b.name}: ${status}, ${r.seconds.toFixed(1)} s; load average ${loadavg()})`)
    console.log('')
  }
  console.log('## Summary')
  console.log('')
  console.log('| benchmark | status | seconds |')
  console.log('| --- | --- | --- |')
  for (const [n, s, t] of summary) console.log(`| ${n} | ${s} | ${t} |`)
  if (summary.some(([, s]) => s !== 'ok')) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
