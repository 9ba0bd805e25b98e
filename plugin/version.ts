// The version of this package, for what a running receiver reports about
// itself (STATUS_REPORT) and for the command-line tool. Read from the
// package's own package.json, one level up from both plugin/ (ts-node) and
// dist/ (compiled): one source of truth, no build step that copies it.
import fs from 'node:fs'
import path from 'node:path'

function readVersion (): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

export const VERSION = readVersion()

/** What a receiver says it runs: this package's version and Node's. */
export const IMPLEMENTATION = `fastify-handoff ${VERSION} (node ${process.version})`
