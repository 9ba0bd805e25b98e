// Temporary directories for the tests' Unix sockets, removed at teardown.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'

/** A fresh directory (0700 unless `mode` says otherwise), removed at the end of `t`. */
export function tmpDir (t: Test, prefix = 'handoff-test-', mode = 0o700): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, mode)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}
