// Counts tap's results for CI: every assertion and subtest of every test file,
// as tap saved them in .tap/test-results (or in the directories given as
// arguments, one per run), plus one failure for each test file whose process
// failed without reporting (crash, timeout) and for each run that left no results.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

// The directories of results to count (default: tap's own).
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [path.join(__dirname, '..', '.tap', 'test-results')]
let passed = 0
let failed = 0
let skipped = 0
function walk (d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.tap')) count(fs.readFileSync(p, 'utf8'))
  }
}
function count (text) {
  for (const line of text.split('\n')) {
    const m = /^\s*(not ok|ok)\b[^#]*(#\s*(\w+))?/.exec(line)
    if (m === null) continue
    const directive = (m[3] || '').toLowerCase()
    if (directive === 'skip' || directive === 'todo') skipped++
    else if (m[1] === 'ok') passed++
    else failed++
  }
}
for (const dir of dirs) {
  if (fs.existsSync(dir)) walk(dir)
  else failed++ // a run that left no results did not pass
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exitCode = failed > 0 || passed === 0 ? 1 : 0
