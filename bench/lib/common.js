'use strict'
// Helpers shared by the benchmark scripts: arguments, statistics, CPU time,
// tables, child processes. Plain Node, no dependencies.
const { spawn, fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { roundLine } = require('./progress.js')

const ROOT = path.join(__dirname, '..', '..')
const DIST = path.join(ROOT, 'dist')

/** `--quick` and `--name=value` / `--name value` options. */
function parseArgs (argv = process.argv.slice(2)) {
  const out = { quick: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1)
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i]
    else out[a.slice(2)] = true
  }
  out.quick = out.quick === true || out.quick === 'true'
  return out
}

function num (v, dflt) {
  if (v === undefined || v === true) return dflt
  const n = Number(v)
  return Number.isFinite(n) ? n : dflt
}

/** CPU time of this process so far, in µs (user + system). */
function cpuMicros () {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** CPU time of another process, µs, from /proc/<pid>/stat (clock-tick resolution: 10 ms). */
function procCpuMicros (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12]) // utime, stime
  return ticks * 1e6 / 100
}

/** RSS (bytes) and open descriptors of a process. */
function procMemFds (pid = process.pid) {
  let rss = 0
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    if (m) rss = Number(m[1]) * 1024
  } catch { /* gone */ }
  let fds = 0
  try { fds = fs.readdirSync(`/proc/${pid}/fd`).length } catch { /* gone */ }
  return { rss, fds }
}

function nowNs () { return process.hrtime.bigint() }
function nowMs () { return Number(process.hrtime.bigint()) / 1e6 }

function sortNum (a) { return Float64Array.from(a).sort() }

/** p in [0, 100] of an array of numbers (nearest rank). */
function percentile (values, p) {
  if (values.length === 0) return NaN
  const s = values instanceof Float64Array ? values : sortNum(values)
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))
  return s[rank]
}

function median (values) {
  const v = values.filter((x) => Number.isFinite(x))
  if (v.length === 0) return NaN
  const s = sortNum(v)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Median of each numeric field over a list of result objects. */
function medianOf (results, fields) {
  const out = {}
  for (const f of fields) out[f] = median(results.map((r) => r[f]))
  return out
}

function fmt (v, digits) {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return 'n/a'
  if (typeof v !== 'number') return String(v)
  if (digits === undefined) digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function fmtRatio (v) { return Number.isFinite(v) ? `× ${v.toFixed(2)}` : 'n/a' }

function fmtBytes (b) {
  if (!Number.isFinite(b)) return 'n/a'
  if (b >= 1024 * 1024) return `${(b / 1024 / 1024).toFixed(1)} MiB`
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`
  return `${b} B`
}

/** A Markdown table, padded so it also reads well in a terminal. */
function table (title, headers, rows, notes = []) {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined || c === null) ? '' : String(c)))]
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? '').length)))
  const line = (r) => '| ' + r.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ') + ' |'
  const out = []
  if (title) out.push(`### ${title}`, '')
  out.push(line(headers))
  out.push('| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |')
  for (const r of cells.slice(1)) out.push(line(r))
  for (const n of notes) out.push('', n)
  out.push('')
  const text = out.join('\n')
  process.stdout.write(text + '\n')
  return text
}

/** A target check: "met" / "MISSED" with the figure. */
function verdict (ok) {
  if (ok === undefined || ok === null) return 'n/a'
  return ok ? 'met' : 'MISSED'
}

const tempDirs = []

/** A temporary directory removed at exit. */
function tempDir (prefix = 'handoff-bench-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  if (tempDirs.length === 0) {
    process.on('exit', () => {
      for (const d of tempDirs) { try { fs.rmSync(d, { recursive: true, force: true }) } catch { } }
    })
  }
  tempDirs.push(dir)
  return dir
}

/**
 * Runs a command, returns { code, stdout, stderr, json } where json is the
 * last stdout line that parses as JSON. Killed after timeoutMs.
 */
function run (cmd, args, { timeoutMs = 60000, env, cwd, stdin } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: cwd ?? ROOT, env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    if (stdin !== undefined) child.stdin.end(stdin)
    else child.stdin.end()
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let json = null
      const lines = stdout.trim().split('\n')
      for (let i = lines.length - 1; i >= 0; i--) {
        try { json = JSON.parse(lines[i]); break } catch { }
      }
      resolve({ code, signal, timedOut, stdout, stderr, json })
    })
  })
}

/** Runs a Node script of bench/ as its own process, returns its JSON result (throws on failure). */
async function runNode (script, args = [], opts = {}) {
  const nodeArgs = [...(opts.nodeArgs ?? []), path.join(__dirname, '..', script), ...args]
  const r = await run(process.execPath, nodeArgs, opts)
  if (r.code !== 0 || r.json === null) {
    const why = r.timedOut ? 'timed out' : `exit ${r.code}${r.signal ? ' ' + r.signal : ''}`
    throw new Error(`${script} ${args.join(' ')}: ${why}\n${r.stderr.slice(-2000)}${r.stdout.slice(-500)}`)
  }
  return r.json
}

/** In a child: answer the parent's control messages over the IPC channel. */
function serveControl (handlers = {}, { beforeExit } = {}) {
  process.on('message', async (msg) => {
    if (msg === null || typeof msg !== 'object' || typeof msg.cmd !== 'string') return
    if (msg.cmd === 'cpu') return process.send({ reply: msg.seq, cpu: cpuMicros(), ...procMemFds() })
    if (msg.cmd === 'exit') {
      if (beforeExit) {
        const bound = new Promise((resolve) => setTimeout(resolve, 2000).unref())
        await Promise.race([Promise.resolve().then(beforeExit).catch(() => {}), bound])
      }
      process.exitCode = 0
      process.disconnect()
      setImmediate(() => process.exit(0))
      return
    }
    const h = handlers[msg.cmd]
    if (h === undefined) return
    try {
      const result = await h(msg)
      process.send({ ...result, reply: msg.seq })
    } catch (err) {
      process.send({ reply: msg.seq, error: String((err && err.stack) || err) })
    }
  })
}

/** BENCH_CHILD_EXECARGV="--cpu-prof --cpu-prof-dir=/tmp/p" profiles forked peers. */
function childExecArgv () {
  const v = process.env.BENCH_CHILD_EXECARGV
  return v ? v.split(' ').filter(Boolean) : []
}

/** In a parent: a forked Node child with request/response over IPC. */
class Peer {
  constructor (script, args = [], options = {}) {
    this.seq = 0
    this.waiting = new Map()
    const file = path.join(__dirname, '..', script)
    const execArgv = options.execArgv ?? childExecArgv()
    if (options.fdLimit) {
      // A shell raises the descriptor limit (soft up to hard, or to a number), then execs Node;
      // the IPC descriptor and NODE_CHANNEL_FD pass through the exec.
      const limit = options.fdLimit === 'max' ? '$(ulimit -Hn)' : String(Number(options.fdLimit))
      this.child = spawn('/bin/sh', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, ...execArgv, file, ...args], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: options.serialization ?? 'json'
      })
    } else {
      this.child = fork(file, args, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv,
        serialization: options.serialization ?? 'json'
      })
    }
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    this.child.on('exit', () => {
      for (const [, w] of this.waiting) w.reject(new Error(`${script} exited`))
      this.waiting.clear()
    })
    this.child.on('message', (msg) => {
      if (msg && typeof msg === 'object' && 'reply' in msg) {
        const w = this.waiting.get(msg.reply)
        if (w) {
          this.waiting.delete(msg.reply)
          if (msg.error) w.reject(new Error(msg.error)); else w.resolve(msg)
        }
      } else if (this.onMessage) {
        this.onMessage(msg)
      }
    })
  }

  get pid () { return this.child.pid }

  request (cmd, extra = {}, timeoutMs = 30000) {
    const seq = ++this.seq
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(seq); reject(new Error(`request ${cmd} timed out`)) }, timeoutMs)
      this.waiting.set(seq, {
        resolve: (v) => { clearTimeout(timer); resolve(v) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.send({ cmd, seq, ...extra })
    })
  }

  async cpu () { return (await this.request('cpu')).cpu }

  async stop () {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    try { this.child.send({ cmd: 'exit' }) } catch { }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(t)
  }
}

/** Has the library piece landed in dist/? (returns the module or null) */
function tryRequire (rel) {
  try { return require(path.join(DIST, rel)) } catch { return null }
}

/** The Fastify plugin, from the public entry point or (until it is exported there) dist/fastify.js; null if not built. */
function fastifyPlugin () {
  const index = tryRequire('index.js')
  if (index && typeof index.fastifyHandoff === 'function') return index.fastifyHandoff
  const mod = tryRequire('fastify.js')
  return mod && typeof mod.fastifyHandoff === 'function' ? mod.fastifyHandoff : null
}

function machine () {
  let model = 'unknown'
  try {
    const m = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) model = m[1].trim()
  } catch { }
  return { nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length, model, node: process.version, kernel: os.release() }
}

/**
 * Repetitions within a time budget: runs `body(rep)` up to `reps` times, but
 * not another one when it would likely end past `budgetMs` from now (judged
 * by the longest repetition so far). Returns how many ran.
 */
async function repeatWithin (reps, budgetMs, body) {
  const start = Date.now()
  let longest = 0
  let done = 0
  for (let rep = 0; rep < reps; rep++) {
    if (rep > 0 && Date.now() - start + longest > budgetMs) {
      process.stderr.write(`(time bound: ${done} of ${reps} repetitions)\n`)
      break
    }
    const t = Date.now()
    await body(rep)
    longest = Math.max(longest, Date.now() - t)
    done++
    // bench/run.js's progress (bench/lib/progress.js): set by it only.
    if (process.env.BENCH_PROGRESS === '1') process.stderr.write(roundLine(done, reps))
  }
  return done
}

function runsLabel (done, reps) {
  if (done === 1) return reps === 1 ? '1 run' : `1 run (of ${reps}: time bound)`
  return done === reps ? `median of ${done} interleaved runs` : `median of ${done} interleaved runs (of ${reps}: time bound)`
}

/** Resolves after `ms`, unref'd so it never holds the process. */
function sleep (ms) { return new Promise((resolve) => setTimeout(resolve, ms)) }

module.exports = {
  ROOT,
  DIST,
  parseArgs,
  num,
  cpuMicros,
  procCpuMicros,
  procMemFds,
  nowNs,
  nowMs,
  percentile,
  median,
  medianOf,
  fmt,
  fmtRatio,
  fmtBytes,
  table,
  verdict,
  tempDir,
  run,
  runNode,
  serveControl,
  Peer,
  tryRequire,
  fastifyPlugin,
  machine,
  sleep,
  sortNum,
  repeatWithin,
  runsLabel
}
