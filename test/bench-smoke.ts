// Smoke test of the benchmark suite (issue 7): `node bench/run.js --quick`
// runs every benchmark with tiny counts and must exit 0 and print its tables.
// No figure is checked: on a shared machine they mean nothing at these counts.
import t from 'tap'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { checkFdLeaks } from './helpers/fds.js'

const ROOT = path.join(__dirname, '..')
// Every benchmark once, tiny: about a minute on a quiet machine, more than
// two at a load of 25. A limit on a hang, not on speed.
t.setTimeout(300000)

t.test('npm run bench -- --quick runs every benchmark and prints its tables', async (t) => {
  checkFdLeaks(t)
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.js'), '--quick'], {
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
    'WebSocket echo after the handoff',
    'After the handoff: ratios and targets',
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
})
