// The CI counter (.ci/count.js) on real tap runs of fixture test files that
// pass, skip, die after passing a few assertions (SIGKILL, exit(1)) and time
// out: every process that failed counts as a failure, even where tap's own
// summary leaves it out, and CI's closing line is the only bare count.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { childEnv } from '../helpers/child.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

const ROOT = path.join(__dirname, '..', '..')
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'ci')

interface Ran { status: number | null, stdout: string }

function run (command: string, args: string[], cwd: string): Promise<Ran> {
  // A tap run of its own: none of the outer run's settings (TAP_*, _TAPJS_*,
  // NODE_OPTIONS, the coverage directory) may leak into it.
  const env = childEnv()
  for (const key of Object.keys(env)) if (/^TAP($|_)/.test(key) || key === 'NODE_V8_COVERAGE') delete env[key]
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.resume()
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout }))
  })
}

/**
 * Runs tap on the named fixtures in a project of their own (a temporary
 * directory: the outer run's .tap/ stays untouched), saving the raw TAP.
 */
async function tapRun (t: Test, files: string[]): Promise<Ran & { tapFile: string, summary: Summary }> {
  const dir = tmpDir(t, 'ci-count-')
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'ci-count-fixture', tap: { 'disable-coverage': true } }))
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  for (const file of files) fs.copyFileSync(path.join(FIXTURES, file), path.join(dir, file))
  const tapFile = path.join(dir, 'run.tap')
  const ran = await run(process.execPath, [path.join(ROOT, 'node_modules', '.bin', 'tap'), '-R', 'tap', '-o', tapFile, ...files], dir)
  return { ...ran, tapFile, summary: summary(ran.stdout) }
}

interface Summary { total: number, pass?: number, fail?: number, todo?: number, skip?: number }

/** tap's own summary, the comment "# { total: 14, pass: 10, fail: 1, todo: 1, skip: 2 }" (zeros left out). */
function summary (stdout: string): Summary {
  const found = /^# \{ (total: .*) \}$/m.exec(stdout)
  if (found === null) throw new Error(`no summary from tap in: ${stdout}`)
  return Object.fromEntries(found[1].split(', ').map((pair) => pair.split(': ')).map(([key, n]) => [key, Number(n)])) as unknown as Summary
}

const count = (runs: string[]): Promise<Ran> => run(process.execPath, [path.join(ROOT, '.ci', 'count.js'), ...runs], ROOT)

// Two tap runs of their own: slow to start on a loaded machine.
t.setTimeout(300000)

t.test('crashes and a timeout count as failures, skips and todos as skipped, each run labelled, then the closing line', async (t) => {
  checkFdLeaks(t)
  const ran = await tapRun(t, ['pass.js', 'skip.js', 'crash-kill.js', 'crash-exit.js', 'timeout.js'])
  t.not(ran.status, 0, 'tap fails the run')
  // tap's own summary: crash-exit.js fails; crash-kill.js (its points all
  // passed, its plan is missing) is left out. Whether tap reports the timeout
  // once (in the test that was running) or also as the file's closing point
  // depends on which of its two timers fires first: 2 or 3 failures.
  const { pass, fail = 0, skip, todo } = ran.summary
  t.same({ pass, skip, todo }, { pass: 12, skip: 2, todo: 1 }, 'tap\'s own summary')
  t.ok(fail === 2 || fail === 3, `tap's own summary: ${fail} failures`)

  // pass.js 4, skip.js 1 (and 3 skipped), crash-kill.js 3, crash-exit.js 2,
  // timeout.js 2: as tap counts them, and crash-kill.js fails.
  const counted = await count([`crashes=${ran.tapFile}`])
  t.equal(counted.stdout, `crashes: 12 passed, ${fail + 1} failed, 3 skipped\n12 passed, ${fail + 1} failed, 3 skipped\n`)
  t.equal(counted.status, 1, 'a failure fails the count')
})

t.test('a run that passes counts 0 failed and exits 0; a run without results is a failure', async (t) => {
  checkFdLeaks(t)
  const green = await tapRun(t, ['pass.js', 'skip.js'])
  t.equal(green.status, 0, 'tap passes the run')
  t.same(green.summary, { total: 8, pass: 5, todo: 1, skip: 2 }, 'tap\'s own summary')
  const counted = await count([`green=${green.tapFile}`])
  t.equal(counted.stdout, 'green: 5 passed, 0 failed, 3 skipped\n5 passed, 0 failed, 3 skipped\n')
  t.equal(counted.status, 0)

  // Two runs: a line for each, and only the closing line is a bare count.
  const missing = path.join(tmpDir(t, 'ci-count-'), 'never-written.tap')
  const lost = await count([`green=${green.tapFile}`, `lost=${missing}`])
  t.equal(lost.stdout, `green: 5 passed, 0 failed, 3 skipped\nlost: 0 passed, 1 failed, 0 skipped (no results at ${missing})\n5 passed, 1 failed, 3 skipped\n`)
  t.equal(lost.status, 1)
  const bare = lost.stdout.split('\n').filter((line) => /^\d+ passed, \d+ failed(, \d+ skipped)?$/.test(line))
  t.same(bare, ['5 passed, 1 failed, 3 skipped'], 'only the closing line matches what CI reads')
})
