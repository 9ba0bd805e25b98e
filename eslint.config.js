'use strict'
// `npm run lint`: neostandard, the style the Fastify org uses, on the
// TypeScript sources, the tests and the JavaScript of the examples, bench
// and CI scripts. Build output, installed modules and the C++ addon are not
// linted.
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'build/**', 'prebuilds/**', 'coverage/**', '.tap/**', 'examples/demo/public/**']
  }),
  {
    rules: {
      // `void promise` marks a promise deliberately not awaited (its errors
      // are handled where it is made), and `void x` a value kept for the type
      // checker in the type tests: as a statement only, never inside an
      // expression.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
