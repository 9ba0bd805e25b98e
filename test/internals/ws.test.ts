// Live migration reads ws's private state (plugin/internals.ts, section ws
// migration), so it must refuse a ws it does not know: when a migration is
// created (docs/receiver.md, "ws versions"), with ERR_HANDOFF_WS_UNSUPPORTED
// naming the installed version and what is missing, while the rest of the
// package, which does not touch ws's internals, still loads. Each case runs in
// a child process whose node_modules holds a copy of the real ws, changed
// (its version, or one private member), beside links to every other
// dependency: the package resolves that ws exactly as it would in an app.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

const ROOT = path.join(__dirname, '..', '..')
const MODULES = path.join(ROOT, 'node_modules')

interface Outcome { loaded: boolean, created: boolean, code?: string, message?: string }

/**
 * An app directory whose node_modules has fastify-handoff (links to this
 * checkout's dist/, build/ and package.json), links to every installed
 * dependency but ws, and a copy of ws that `change` edits.
 */
function appWithWs (t: Test, change: (wsDir: string) => void): string {
  const app = tmpDir(t, 'ws-version-')
  const modules = path.join(app, 'node_modules')
  fs.mkdirSync(modules)
  for (const name of fs.readdirSync(MODULES)) {
    if (name === 'ws' || name === '.bin' || name.startsWith('.')) continue
    fs.symlinkSync(path.join(MODULES, name), path.join(modules, name))
  }
  const self = path.join(modules, 'fastify-handoff')
  fs.mkdirSync(self)
  for (const name of ['dist', 'build', 'package.json']) fs.symlinkSync(path.join(ROOT, name), path.join(self, name))
  const wsDir = path.join(modules, 'ws')
  fs.cpSync(path.join(MODULES, 'ws'), wsDir, { recursive: true })
  change(wsDir)
  return app
}

function setVersion (wsDir: string, version: string): void {
  const file = path.join(wsDir, 'package.json')
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), version }))
}

/**
 * In a child run from `app` (--preserve-symlinks: modules resolve from the
 * app's node_modules, not from this checkout's): loads the package, then
 * creates a migration on a WebSocketServer of the app's ws.
 */
function createMigrationIn (app: string): Promise<Outcome> {
  const script = `
    const out = { loaded: false, created: false }
    try {
      const { wsMigration } = require('fastify-handoff/migrate')
      require('fastify-handoff')
      out.loaded = true
      const { WebSocketServer } = require('ws')
      const wss = new WebSocketServer({ noServer: true })
      wsMigration({ wss })
      out.created = true
    } catch (err) {
      out.code = err.code
      out.message = err.message
    }
    process.stdout.write(JSON.stringify(out))`
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--preserve-symlinks', '-e', script], { cwd: app }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`the child failed: ${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout) as Outcome)
    })
  })
}

t.test('the installed ws (a copy, unchanged) is accepted: the harness itself does not refuse', async (t) => {
  checkFdLeaks(t)
  const out = await createMigrationIn(appWithWs(t, () => {}))
  t.same(out, { loaded: true, created: true })
})

const refused: Array<[string, (wsDir: string) => void, RegExp]> = [
  ['an older major (ws 7.5.10)', (dir) => setVersion(dir, '7.5.10'),
    /^live WebSocket migration cannot use this ws: ws 7\.5\.10 is outside the supported range 8\.18\.x to 8\.x$/],
  ['a minor below the range (ws 8.17.1)', (dir) => setVersion(dir, '8.17.1'),
    /ws 8\.17\.1 is outside the supported range 8\.18\.x to 8\.x$/],
  ['the next major (ws 9.0.0)', (dir) => setVersion(dir, '9.0.0'), /ws 9\.0\.0 is outside the supported range/],
  ['a version in range whose Receiver lost a private member (ws 8.99.0 without _fragments)', (dir) => {
    setVersion(dir, '8.99.0')
    const file = path.join(dir, 'lib', 'receiver.js')
    const source = fs.readFileSync(file, 'utf8')
    // The constructor's one assignment (the other is in a method).
    const changed = source.replace('this._fragments = [];', '')
    if (changed === source) throw new Error('ws/lib/receiver.js: no "this._fragments = [];" to remove')
    fs.writeFileSync(file, changed)
  }, /ws 8\.99\.0 has no Receiver _state\/_buffers\/_fragmented\/_fragments$/]
]

for (const [what, change, message] of refused) {
  t.test(`${what}: the package loads; creating a migration is refused, naming the version and what is missing`, async (t) => {
    checkFdLeaks(t)
    const out = await createMigrationIn(appWithWs(t, change))
    t.equal(out.loaded, true, 'the package loads (nothing of ws is checked at load)')
    t.equal(out.created, false, 'no migration is created')
    t.equal(out.code, 'ERR_HANDOFF_WS_UNSUPPORTED')
    t.match(out.message, message)
  })
}
