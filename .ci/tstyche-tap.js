// A tstyche reporter that prints TAP, so that CI counts the type tests like
// every other run (.ci/count.js): one point per test (pass, fail, skip, todo),
// and one failing point for each error that stops a file or the run before
// its tests are judged (a file that does not compile, a bad config).
//
//   npx tstyche --reporters ./.ci/tstyche-tap.js > .tap/ci/types.tap
'use strict'

const ERRORS = new Set(['store:error', 'project:error', 'file:error', 'directive:error', 'collect:error', 'test:error', 'suppressed:error'])

/** The test's name with its describe blocks, as tstyche lists them. */
function nameOf (result) {
  const names = [result.test.name]
  for (let parent = result.parent; parent !== undefined; parent = parent.parent) names.unshift(parent.describe.name)
  return names.join(' > ')
}

function messageOf (diagnostics) {
  return diagnostics.map((d) => [].concat(d.text).join(' ')).join('; ').replace(/\s+/g, ' ')
}

module.exports = class TapReporter {
  constructor () {
    this.count = 0
    this.out = ['TAP version 14']
  }

  point (ok, description, directive = '') {
    this.count++
    this.out.push(`${ok ? 'ok' : 'not ok'} ${this.count} - ${description.replace(/#/g, '\\#')}${directive}`)
  }

  on ([event, payload]) {
    if (event === 'test:pass') this.point(true, nameOf(payload.result))
    else if (event === 'test:fail') this.point(false, nameOf(payload.result))
    else if (event === 'test:skip') this.point(true, nameOf(payload.result), ' # SKIP')
    else if (event === 'test:todo' || event === 'test:fixme') this.point(true, nameOf(payload.result), ' # TODO')
    else if (ERRORS.has(event)) this.point(false, `${event}: ${messageOf(payload.diagnostics)}`)
    else if (event === 'run:end') {
      this.out.push(`1..${this.count}`)
      process.stdout.write(this.out.join('\n') + '\n')
    }
  }
}
