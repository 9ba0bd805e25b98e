// The package's shape as its users load it, by name, in processes of their
// own: `require('fastify-handoff')` is the Fastify plugin (registered as the
// module itself, as its .default and by name), ESM default and named imports
// give the same, each subpath of the exports map carries exactly its face,
// internals stay unreachable, the codec loads where the addon is missing, and
// the types of the framework-free faces import nothing from fastify.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { report, runNode } from './helpers.js'

const ROOT = path.join(__dirname, '..', '..')
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'package')
const registeredOk = { handoff: true, replyHandoff: true }

/** Runs a fixture of test/fixtures/package with a socket path; its JSON report, or null (a failure said). */
async function runFixture (t: Test, file: string): Promise<Record<string, any> | null> {
  const dir = tmpDir(t)
  const run = await runNode([path.join(FIXTURES, file), path.join(dir, 'chat.sock')], { cwd: ROOT })
  t.equal(run.code, 0, `${file} ran (stderr: ${run.stderr})`)
  const seen = report<Record<string, any>>(run)
  if (seen === null) t.fail(`${file}: no report in ${JSON.stringify(run.stdout)}`)
  return seen
}

// Every runtime export of every face: the surface the README lists. A name
// added or removed here is a change of the public surface (README "Public
// surface" and "Upgrading").
const SUBPATHS = {
  channel: ['Channel', 'UnixListener', 'closeFds', 'connectUnix', 'listenUnix'],
  express: ['createSender', 'expressHandoff', 'upgradeOf'],
  http: ['createSender', 'handoffResponse', 'handoffUpgrades'],
  migrate: ['Migration', 'RawMover', 'Sibling', 'deployStats', 'handoffMigration', 'rawMover', 'startSibling', 'wsMigration'],
  receiver: ['createReceiver', 'handoffInfo'],
  sender: ['createSender'],
  takeover: ['Generation', 'TAKEOVER_PROTOCOL', 'TAKEOVER_VERSION', 'TakeoverType', 'deployStats', 'listen', 'listenOn', 'systemdListeners', 'takeover']
}

t.test("require('fastify-handoff') is the plugin, registered three ways; the subpaths carry their faces", async (t) => {
  checkFdLeaks(t)
  const seen = await runFixture(t, 'cjs.js')
  if (seen === null) return
  t.equal(seen.type, 'function', 'the module is a function')
  t.same(seen.keys, ['default', 'fastifyHandoff', 'handoffInfo', 'handoffReceiver'], 'and carries exactly these')
  t.ok(seen.defaultIsPlugin, '.default is the module')
  t.ok(seen.namedIsPlugin, '.fastifyHandoff is the module')
  t.equal(seen.receiverType, 'function', '.handoffReceiver')
  t.equal(seen.infoType, 'function', '.handoffInfo')
  t.same(seen.registerModule, registeredOk, "app.register(require('fastify-handoff')) decorates the app and the reply")
  t.same(seen.registerNamed, registeredOk, "app.register(require('fastify-handoff').fastifyHandoff) too")
  for (const [subpath, keys] of Object.entries(SUBPATHS)) t.same(seen.subpaths[subpath], keys, `fastify-handoff/${subpath}`)
  t.ok(seen.subpaths.protocol.includes('encodeHandoff') && seen.subpaths.protocol.includes('decodeFrame'), 'fastify-handoff/protocol: the codec')
  t.same(seen.subpaths.errors.filter((k: string) => !k.startsWith('ERR_HANDOFF_')), ['isSystemError'], 'fastify-handoff/errors: the codes (and isSystemError)')
  t.same(Object.keys(seen.subpaths).sort(), [...Object.keys(SUBPATHS), 'errors', 'protocol'].sort(), 'and no other subpath')
  t.notOk(seen.subpaths.protocol.some((k: string) => /Channel|native|Unix/.test(k)), 'and no I/O')
  for (const file of ['dist/native.js', 'dist/sender/link.js', 'dist/index.js']) {
    t.equal(seen.internals[file], 'ERR_PACKAGE_PATH_NOT_EXPORTED', `fastify-handoff/${file} is not reachable`)
  }
})

t.test('ESM: the default import is the plugin, named imports work, app.register(import(...)) too', async (t) => {
  checkFdLeaks(t)
  const seen = await runFixture(t, 'esm.mjs')
  if (seen === null) return
  t.equal(seen.type, 'function', "import fastifyHandoff from 'fastify-handoff'")
  t.ok(seen.namedIsPlugin, "import { fastifyHandoff } from 'fastify-handoff'")
  t.equal(seen.receiverType, 'function', "import { handoffReceiver } from 'fastify-handoff'")
  t.equal(seen.infoType, 'function', "import { handoffInfo } from 'fastify-handoff'")
  t.same(seen.subpathTypes, ['function', 'function', 'function', 'function', 'function', 'function'], 'a named import from each subpath')
  t.same(seen.registerDefault, registeredOk, 'app.register(fastifyHandoff)')
  t.same(seen.registerImport, registeredOk, "app.register(import('fastify-handoff'))")
})

t.test('fastify-handoff/protocol loads where the addon is missing (and the main entry then fails clearly)', async (t) => {
  checkFdLeaks(t)
  // The package without its addon: package.json and dist/, no build/ and no
  // prebuilds/; its dependencies from the repository's node_modules.
  const dir = tmpDir(t)
  const pkg = path.join(dir, 'node_modules', 'fastify-handoff')
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'))
  fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true })
  for (const dep of ['@fastify', 'fastify-plugin', 'node-gyp-build']) {
    fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(dir, 'node_modules', dep))
  }
  const codec = await runNode(['-e', `
    const p = require('fastify-handoff/protocol')
    const frame = p.encodeReject(7, { reason: 'busy', message: 'full' })
    const { frameSize } = p.protocolFramer.parse(frame)
    console.log(JSON.stringify({ frameSize, length: frame.length }))`], { cwd: dir })
  t.equal(codec.code, 0, `the codec loaded and encoded a frame (stderr: ${codec.stderr})`)
  const seen = report<{ frameSize: number, length: number }>(codec)
  t.ok(seen !== null && seen.frameSize === seen.length && seen.length > 0, 'the framer reads back the frame it encoded')
  const main = await runNode(['-e', "require('fastify-handoff')"], { cwd: dir })
  t.not(main.code, 0, 'the main entry does not load there')
  t.match(main.stderr, /ERR_HANDOFF_NATIVE_LOAD/, 'with the addon load error: the addon really was missing')
})

/** The module specifiers a .d.ts file imports (import/export … from, import('…')). */
function importsOf (file: string): string[] {
  const text = fs.readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1])
}

/** Every bare specifier the .d.ts graph under `entry` reaches (relative imports followed). */
function bareImports (entry: string): Set<string> {
  const bare = new Set<string>()
  const seen = new Set<string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop() as string
    if (seen.has(file)) continue
    seen.add(file)
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.d.ts'))
      else bare.add(spec)
    }
  }
  return bare
}

t.test('the types of the framework-free faces import nothing from fastify', async (t) => {
  const exportsMap = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).exports
  for (const subpath of ['sender', 'receiver', 'http', 'express', 'channel', 'protocol', 'errors', 'takeover']) {
    const types = path.join(ROOT, exportsMap[`./${subpath}`].types)
    t.ok(fs.existsSync(types), `${subpath}: its .d.ts exists`)
    // @fastify/error is this package's own dependency (the error codes), always
    // installed with it: not a framework a node:http user would lack.
    const fastifyish = [...bareImports(types)].filter((s) => /^(fastify|@fastify\/)/.test(s) && s !== '@fastify/error')
    t.same(fastifyish, [], `fastify-handoff/${subpath}: no fastify types reached`)
  }
  // The check sees them where they are: the main entry does reach fastify.
  t.ok([...bareImports(path.join(ROOT, 'dist', 'index.d.ts'))].includes('fastify'), 'the main entry reaches fastify (the check works)')
})

t.test("the README's Public surface lists every runtime export of every entry", async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Public surface'), readme.indexOf('\n## ', readme.indexOf('## Public surface') + 1))
  const rowOf = (entry: string): string => section.split('\n').find((line) => line.startsWith(`| \`${entry}\` |`)) ?? ''
  const listed = (entry: string, keys: string[]): string[] => keys.filter((k) => !rowOf(entry).includes(`\`${k}\``))
  const run = await runNode(['-e', `
    const subpaths = Object.keys(require('fastify-handoff/package.json').exports).filter((k) => k !== '.' && k !== './package.json')
    const entries = ['fastify-handoff', ...subpaths.map((s) => 'fastify-handoff' + s.slice(1))]
    console.log(JSON.stringify(Object.fromEntries(entries.map((e) => [e, Object.keys(require(e))]))))`], { cwd: ROOT })
  const keys = report<Record<string, string[]>>(run)
  if (keys === null) return t.fail(`no report: ${run.stderr}`)
  for (const [entry, names] of Object.entries(keys)) t.same(listed(entry, names), [], `${entry}: every export is in its row`)
})
