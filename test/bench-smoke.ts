// Smoke test of the benchmark suite (issue 7): `node bench/run.js --quick`
// runs every benchmark with tiny counts and must exit 0 and print its tables.
// No figure is checked: on a shared machine they mean nothing at these counts.
// It also draws the charts (issue 16, item 6) into a directory of its own and
// reports its progress on stderr, never on stdout.
import t from 'tap'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from './helpers/fds.js'
import { parseSvg, PYTHON3 } from './helpers/svg.js'
import { prerequisite } from './helpers/prereq.js'
import { tmpDir } from './helpers/tmp.js'

const ROOT = path.join(__dirname, '..')
// Every benchmark once, tiny: about a minute on a quiet machine, more than
// two at a load of 25. A limit on a hang, not on speed.
t.setTimeout(300000)

t.test('npm run bench -- --quick runs every benchmark and prints its tables', async (t) => {
  checkFdLeaks(t)
  const charts = path.join(tmpDir(t, 'handoff-bench-charts-'), 'charts')
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.js'), '--quick', '--charts-dir', charts], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 280000)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(timer)
  t.equal(code, 0, 'bench/run.js --quick exits 0', { stderr: stderr.slice(-4000), stdout: stdout.slice(-4000) })
  for (const title of [
    'Descriptor pass rate and cost',
    'Pass rate: ratios and targets',
    'Connect -> first byte',
    'Connection setup, stage by stage',
    'Connect -> first WebSocket message, Fastify + @fastify/websocket on every server',
    'Connection setup, stage by stage (Fastify + @fastify/websocket',
    'WebSocket echo after the handoff',
    'After the handoff: ratios and targets',
    'WebSocket open, before the echo',
    'Stability:',
    'Scale: one sibling holding',
    'Handoffs through a pool of',
    'Live migration:'
  ]) {
    t.match(stdout, `### ${title}`, `prints "${title}"`)
  }
  t.match(stdout, /\| C sendmsg\/recvmsg \(the floor\)\s+\| \d+/, 'the C program ran')
  t.match(stdout, /\| Node child\.send\(msg, socket\)\s+\| \d+/, 'child.send ran')
  t.match(stdout, /\| fastify-handoff Channel, raw\s+\| \d+/, 'the channel ran')
  t.notMatch(stdout, /failed: /, 'no contender failed')
  t.match(stdout, /\| scale\s+\| ok /, 'the summary lists every benchmark as ok')

  // Progress: stderr not being a terminal, a line as each benchmark starts and ends.
  for (const name of ['pass-rate', 'e2e', 'e2e-ws', 'stages-ws', 'ws-echo', 'migrate']) {
    t.match(stderr, new RegExp(`^\\[\\d+/\\d+\\] ${name}: started$`, 'm'), `stderr: ${name} started`)
    t.match(stderr, new RegExp(`^\\[\\d+/\\d+\\] ${name}: ok, [\\d.]+ s$`, 'm'), `stderr: ${name} ended`)
  }
  t.notMatch(stdout, /^\[\d+\/\d+\]|@@bench-progress/m, 'no progress on stdout')
  t.notMatch(stderr, /@@bench-progress/, 'the round markers are taken out of stderr')

  // The charts, from this run's figures, linked from stdout.
  for (const [file, bars] of [['setup-cost.svg', 7], ['echo-rate.svg', 10]] as const) {
    const f = path.join(charts, file)
    t.ok(fs.existsSync(f), `${file} written`)
    if (!fs.existsSync(f)) continue
    t.match(stdout, `](${f})`, `${file} linked from stdout`)
    const skip = prerequisite(t, PYTHON3)
    if (skip !== false) { t.skip(skip); continue }
    const p = parseSvg(fs.readFileSync(f, 'utf8'))
    t.equal(p.bars.length, bars, `${file}: well-formed, ${bars} bars`)
  }
})
