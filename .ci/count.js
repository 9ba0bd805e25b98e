// Counts tap's results for CI, one labelled line per run, then the total as
// the closing line, "N passed, N failed, N skipped", which CI reads.
//
//   node .ci/count.js 'npm test=.tap/ci/npm-test.tap' 'channel tests (recvmsg-loop build)=.tap/ci/recvmsg-loop.tap'
//
// Each argument is LABEL=FILE, FILE being the raw TAP of a whole tap run as
// `tap --output-file` saves it (every test file as a subtest of the run), or
// any TAP (.ci/coverage.js prints its checks as TAP).
//
// The rule, tap's own (its summary `# { total, pass, fail }` counts the same):
// every test point counts once, except the closing point of a subtest that
// has points of its own and agrees with them (a subtest that passed because
// its assertions passed counts as those assertions, not once more). So
// assertions count, and so do subtests without points of their own
// (skipped, todo, empty). A todo counts as skipped.
// On top of tap's rule: a test file whose process failed (killed by a signal,
// exit(1) or a crash after its last assertion, a timeout) while none of its
// points failed counts one failure; tap marks it `not ok` and exits non-zero
// but leaves it out of its summary. So do a test file without a closing
// point (a run cut short), a bail out, and a run that left no results or
// no test points at all.
// The total adds the runs up: the channel tests run once per build of the
// addon and count in each run; the coverage check counts as its points.
'use strict'
const fs = require('node:fs')
const { Parser } = require('tap-parser')

/** The counts of one run's raw TAP. */
function countRun (tap) {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  const root = new Parser()
  let failedAtFileStart = 0
  let fileFailedSilently = null // the `not ok` point of a test file none of whose points failed
  const settle = () => {
    if (fileFailedSilently !== null) counts.failed++
    fileFailedSilently = null
  }
  let fileOpen = false
  root.on('child', () => {
    settle()
    failedAtFileStart = counts.failed
    fileOpen = true
  })
  // A point of the run itself (a test file's closing point): 'assert' comes
  // before the 'result' tap counts, if it counts it at all.
  root.on('assert', (point) => {
    settle()
    fileOpen = false
    if (!point.ok && !point.skip && !point.todo && counts.failed === failedAtFileStart) fileFailedSilently = point
  })
  root.on('result', (point) => {
    if (point === fileFailedSilently) fileFailedSilently = null // tap counted it
    if (point.skip || point.todo) counts.skipped++
    else if (point.ok) counts.passed++
    else counts.failed++
  })
  root.on('complete', (results) => {
    settle()
    if (fileOpen) counts.failed++
    if (results.bailout !== false) counts.failed++
  })
  root.end(tap)
  if (counts.passed + counts.failed + counts.skipped === 0) counts.failed++ // nothing ran
  return counts
}

const line = ({ passed, failed, skipped }) => `${passed} passed, ${failed} failed, ${skipped} skipped`

const total = { passed: 0, failed: 0, skipped: 0 }
for (const arg of process.argv.slice(2)) {
  const at = arg.lastIndexOf('=')
  const [label, file] = at > 0 ? [arg.slice(0, at), arg.slice(at + 1)] : [arg, arg]
  const counts = fs.existsSync(file)
    ? countRun(fs.readFileSync(file, 'utf8'))
    : { passed: 0, failed: 1, skipped: 0 } // a run that left no results did not pass
  // Label first: this line cannot be mistaken for the closing one.
  console.log(`${label}: ${line(counts)}${fs.existsSync(file) ? '' : ` (no results at ${file})`}`)
  for (const key of Object.keys(total)) total[key] += counts[key]
}
console.log(line(total))
process.exitCode = total.failed > 0 || total.passed === 0 ? 1 : 0
