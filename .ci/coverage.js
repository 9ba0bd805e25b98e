// Checks the coverage of plugin/ (the package's source) that the last
// `npm test` collected, against the floors below, and prints the result as
// TAP (count.js counts it like a test run):
//
//   npm test && node .ci/coverage.js [coverage-summary.json]
//
// tap collects coverage with V8 in every process it runs, and the children
// started through test/helpers/child.ts add theirs (NODE_V8_COVERAGE); tap's
// report maps dist/*.js back to plugin/*.ts through the source maps and
// writes .tap/report/coverage-summary.json (package.json: coverage-report).
// tap's own thresholds would apply to every file it saw (examples, demo
// scripts, fixtures' code): package.json sets them to 0, and these floors
// apply to plugin/ only. The cost of collecting coverage in every `npm test`
// (about 40% more CPU time, measured on test/receiver and a sender test) is
// paid for one test command, the same locally and in CI.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

// THE floors, in percent of plugin/'s lines and branches: one point below
// what the whole suite reaches, floored to an integer (the margin is for runs
// that differ: a child killed by SIGKILL leaves no coverage, some paths
// depend on timing). Raised as tests are added, never lowered.
// Reached (fresh-clone .ci/run, 2026-12-03, main 6eba5eb, every branch of
// the security and test work merged): lines 96.74-96.76%, branches 89.23-89.47%.
const FLOORS = { lines: 95, branches: 88 }
// The modules that came with the zero-downtime and operations work
// (2026-12-03: listener takeover, live WebSocket migration, the command-line
// tool) are held to floors of their own, one point below what they reach
// (lines 95.04 %, branches 76.32 % in the first merged run), and are NOT
// counted in FLOORS: their branches (rollbacks, kept connections, refusals)
// need more fault tests before they can join the common floors, which is the
// plan; these floors too are only ever raised.
// Raised (2026-12-03, hardening: fault tests of kept reasons, refusals,
// successor-side protocol faults, the status tool's wrong peers): test/migrate,
// test/takeover and test/cli alone reach lines 96.77 %, branches 83.31 % of
// these modules (the whole suite adds to that); branches are still short of
// the common 88 (migrate/'s fastify.ts, payload.ts, raw.ts, window.ts).
const NEW = ['migrate', 'takeover', 'cli'].map((dir) => path.join(__dirname, '..', 'plugin', dir) + path.sep)
const NEW_FLOORS = { lines: 95, branches: 82 }

const root = path.join(__dirname, '..')
const plugin = path.join(root, 'plugin') + path.sep
const summaryFile = process.argv[2] ?? path.join(root, '.tap', 'report', 'coverage-summary.json')

const points = []
const point = (ok, description, diag) => points.push({ ok, description, diag })

if (!fs.existsSync(summaryFile)) {
  point(false, `coverage of plugin/: no ${path.relative(root, summaryFile)} (run npm test with coverage first)`)
} else {
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'))
  const files = Object.keys(summary).filter((file) => file.startsWith(plugin))
  const isNew = (file) => NEW.some((dir) => file.startsWith(dir))
  const floorPoints = (label, group, floors) => {
    for (const [kind, floor] of Object.entries(floors)) {
      let total = 0
      let covered = 0
      for (const file of group) {
        total += summary[file][kind].total
        covered += summary[file][kind].covered
      }
      const pct = total === 0 ? 0 : Math.floor(covered / total * 10000) / 100
      point(pct >= floor, `${label} ${kind}: ${pct}% (${covered}/${total}), floor ${floor}%`)
    }
  }
  floorPoints('plugin/', files.filter((file) => !isNew(file)), FLOORS)
  // A module no test loads is missing from the report, not counted as 0%:
  // unless it compiles to no code at all (types only), that is a failure.
  const unloaded = sources(plugin).filter((file) => !files.includes(file) && hasCode(file))
  point(unloaded.length === 0, 'every plugin/ module with code is loaded by some test',
    unloaded.length === 0 ? undefined : unloaded.map((file) => path.relative(root, file)))
  floorPoints('plugin/{migrate,takeover,cli}/', files.filter(isNew), NEW_FLOORS)
}

/** The .ts sources below `dir` (not declarations). */
function sources (dir) {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
}

/** Whether tsc's output for plugin/<file>.ts (in dist/) has a statement beyond its module preamble. */
function hasCode (file) {
  const compiled = path.join(root, 'dist', path.relative(plugin, file).replace(/\.ts$/, '.js'))
  if (!fs.existsSync(compiled)) return true
  return fs.readFileSync(compiled, 'utf8')
    .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    .replace(/"use strict";|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);/g, '')
    .trim() !== ''
}

console.log('TAP version 14')
points.forEach(({ ok, description, diag }, i) => {
  console.log(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${description}`)
  if (diag !== undefined) console.log(`  ---\n  files:\n${diag.map((d) => `    - ${d}`).join('\n')}\n  ...`)
})
console.log(`1..${points.length}`)
process.exitCode = points.every((p) => p.ok) ? 0 : 1
