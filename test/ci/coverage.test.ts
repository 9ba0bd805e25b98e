// The coverage check (.ci/coverage.js) on summaries made up here: it counts
// plugin/ only, fails under its floors, and fails on a module with code that
// no test loaded (one missing from the report is not 0% but absent).
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

const ROOT = path.join(__dirname, '..', '..')
const PLUGIN = path.join(ROOT, 'plugin')

interface Counts { total: number, covered: number }
type Entry = Record<'lines' | 'branches' | 'statements' | 'functions', Counts & { skipped: number, pct: number }>

const entry = (covered: number, total: number): Entry => {
  const counts = { total, covered, skipped: 0, pct: total === 0 ? 100 : covered / total * 100 }
  return { lines: counts, branches: counts, statements: counts, functions: counts }
}

/** Every plugin/ source, as tap's json-summary names them (absolute paths). */
const sources = (): string[] => fs.readdirSync(PLUGIN, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join(PLUGIN, f))

/** .ci/coverage.js on the summary `file`. */
function run (file: string): Promise<{ status: number | null, stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, '.ci', 'coverage.js'), file], (err, stdout) => {
      resolve({ status: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout })
    })
  })
}

/** .ci/coverage.js on `summary` (and tap's "total" entry). */
async function check (t: Test, summary: Record<string, Entry>): Promise<{ status: number | null, stdout: string }> {
  const file = path.join(tmpDir(t, 'coverage-'), 'coverage-summary.json')
  fs.writeFileSync(file, JSON.stringify({ total: entry(0, 0), ...summary }))
  return await run(file)
}

t.test('plugin/ fully covered passes, whatever other files show', async (t) => {
  checkFdLeaks(t)
  const summary = Object.fromEntries(sources().map((f) => [f, entry(10, 10)]))
  const ran = await check(t, { ...summary, [path.join(ROOT, 'examples', 'demo', 'run.js')]: entry(0, 50) })
  t.equal(ran.status, 0)
  t.match(ran.stdout, /^ok 1 - plugin\/ lines: 100% \(\d+\/\d+\), floor \d+%$/m)
  t.match(ran.stdout, /^ok 2 - plugin\/ branches: 100% /m)
  t.match(ran.stdout, /^ok 3 - every plugin\/ module with code is loaded by some test$/m)
})

t.test('plugin/ uncovered fails both floors', async (t) => {
  checkFdLeaks(t)
  const ran = await check(t, Object.fromEntries(sources().map((f) => [f, entry(0, 10)])))
  t.equal(ran.status, 1)
  t.match(ran.stdout, /^not ok 1 - plugin\/ lines: 0% \(0\/\d+\), floor \d+%$/m)
  t.match(ran.stdout, /^not ok 2 - plugin\/ branches: 0% /m)
})

t.test('a module with code that no test loaded fails; a types-only one does not', async (t) => {
  checkFdLeaks(t)
  const channel = path.join(PLUGIN, 'channel.ts')
  const framer = path.join(PLUGIN, 'framer.ts') // interfaces only: compiles to no code
  const summary = Object.fromEntries(sources().filter((f) => f !== channel && f !== framer).map((f) => [f, entry(10, 10)]))
  const ran = await check(t, summary)
  t.equal(ran.status, 1)
  t.match(ran.stdout, /^not ok 3 - every plugin\/ module with code is loaded by some test\n {2}---\n {2}files:\n {4}- plugin\/channel\.ts\n {2}\.\.\.$/m)
})

t.test('no summary (coverage not collected) fails', async (t) => {
  checkFdLeaks(t)
  const ran = await run(path.join(tmpDir(t, 'coverage-'), 'none.json'))
  t.equal(ran.status, 1)
  t.match(ran.stdout, /^not ok 1 - coverage of plugin\/: no .*none\.json \(run npm test with coverage first\)$/m)
})
