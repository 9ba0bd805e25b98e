// What a test needs from the machine (root, setpriv, openssl, chromium,
// python3...). Locally a missing one skips the test, with a skip message that
// says what to install; in CI (CI=true) it fails the run instead: a skip there
// would keep CI green while the test never ran.
import { spawnSync } from 'node:child_process'
import type { Test } from 'tap'

export interface Prerequisite {
  /** What is needed, as the skip or the failure names it: 'openssl', 'root'. */
  name: string
  /** Whether it is there (probe it with hasCommand or a check of your own). */
  available: boolean
  /** How to get it: 'apt-get install openssl', 'run the tests as root'. */
  install: string
}

/** True under CI, where .ci/run installs every prerequisite and a missing one is a failure. */
export const inCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1'

/**
 * The value for a test's `skip` option (false: run it). When `need` is not
 * available: in CI, a failing assertion on `t` (the test that would hold the
 * skipped one) and the test is skipped; locally, only the skip.
 *
 *   t.test('...', { skip: prerequisite(t, { name: 'openssl', available: hasCommand('openssl'), install: 'apt-get install openssl' }) }, ...)
 *
 * Inside a test: `const skip = prerequisite(t, need); if (skip !== false) { t.skip(skip); return }`.
 */
export function prerequisite (t: Test, need: Prerequisite): string | false {
  if (need.available) return false
  const why = `${need.name} is missing (${need.install})`
  if (inCI()) t.fail(`CI must provide every prerequisite: ${why}`)
  return why
}

/** Whether `command` runs (found on PATH and executable), probed with `args` (e.g. ['--version']). */
export function hasCommand (command: string, args: string[] = ['--version']): boolean {
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 10000 })
  return probe.error === undefined && probe.status === 0
}
