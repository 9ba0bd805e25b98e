// The packed tarball, installed as a user would, with install scripts
// disabled: `npm pack` of the package (its prepack and prepare build dist/ and
// the N-API prebuild), then `npm install --ignore-scripts <tarball> fastify`
// into an empty project, from the local npm cache (--prefer-offline), and a
// program there that requires 'fastify-handoff' by name hands one connection
// off to a sibling: the addon loaded from prebuilds/, no compiler ran. Slow
// (a compile of the addon and an install): every step has its own limit.
// The registry (or a warm npm cache) is a prerequisite: where the install
// fails and `npm ping` does too, the test is skipped (failed in CI).
import t from 'tap'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { prerequisite } from '../helpers/prereq.js'
import { tmpDir } from '../helpers/tmp.js'
import { report, runNode } from './helpers.js'

const ROOT = path.join(__dirname, '..', '..')
// A compile of the addon and an install on a loaded 2-core machine: a bound
// that reports a hang, not a measure.
t.setTimeout(10 * 60 * 1000)

interface Ran { code: number | null, output: string }

/** npm's environment without what `npm test` set for itself (its lifecycle, its package, its prefix). */
function npmEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|_TAPJS_|TAP_|NODE_OPTIONS$|NODE_V8_COVERAGE$)/i.test(key) && !/^npm_config_(cache|registry|userconfig)$/i.test(key)) continue
    env[key] = value
  }
  return env
}

function run (command: string, args: string[], cwd: string, timeout: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: npmEnv(), timeout, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      resolve({ code, output: `${stdout}${stderr}`.slice(-4000) })
    })
  })
}

/** The package's own files, as a clean checkout has them, with the repository's node_modules (its devDependencies build it). */
function stage (dir: string): void {
  for (const file of ['package.json', 'tsconfig.json', 'binding.gyp', 'PROTOCOL.md', 'README.md', 'LICENSE']) {
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file))
  }
  for (const folder of ['plugin', 'native']) fs.cpSync(path.join(ROOT, folder), path.join(dir, folder), { recursive: true })
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
}

/** Every file under `dir`, relative to it. */
function listFiles (dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort()
}

t.test('the packed tarball installs without scripts or a compiler and hands a connection off', async (t) => {
  checkFdLeaks(t)
  const work = tmpDir(t, 'handoff-pack-')
  const staged = path.join(work, 'staged')
  const packed = path.join(work, 'packed')
  const project = path.join(work, 'project')
  for (const dir of [staged, packed, project]) fs.mkdirSync(dir)
  stage(staged)

  const pack = await run('npm', ['pack', '--pack-destination', packed], staged, 5 * 60 * 1000)
  t.equal(pack.code, 0, `npm pack (prepack: the prebuild; prepare: dist/)\n${pack.code === 0 ? '' : pack.output}`)
  const tarballs = fs.readdirSync(packed).filter((f) => f.endsWith('.tgz'))
  t.equal(tarballs.length, 1, 'one tarball')
  if (tarballs.length !== 1) return
  const tarball = path.join(packed, tarballs[0])

  // What the tarball carries.
  const unpacked = path.join(work, 'unpacked')
  fs.mkdirSync(unpacked)
  const untar = await run('tar', ['-xzf', tarball, '-C', unpacked], work, 60000)
  t.equal(untar.code, 0, 'tar -xzf')
  const files = listFiles(path.join(unpacked, 'package'))
  t.ok(files.includes('prebuilds/linux-x64/fastify-handoff.node'), 'the linux-x64 N-API prebuild')
  for (const file of ['LICENSE', 'README.md', 'PROTOCOL.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/entry/protocol.js']) {
    t.ok(files.includes(file), file)
  }
  t.same(files.filter((f) => /^(build|plugin|test|examples|node_modules)\//.test(f)), [], 'no build/, sources, tests, examples or modules')
  // Source maps, where shipped, carry the sources they name (which are not shipped).
  const incomplete = files.filter((f) => f.endsWith('.map')).filter((f) => {
    const map = JSON.parse(fs.readFileSync(path.join(unpacked, 'package', f), 'utf8')) as { sources: string[], sourcesContent?: Array<string | null> }
    return map.sources.length !== map.sourcesContent?.filter((s) => typeof s === 'string').length
  })
  t.same(incomplete, [], 'every source map carries its sources')

  // An empty project; the tarball and fastify (the version the repository
  // tests with), from the cache where it can.
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'tries-fastify-handoff', version: '1.0.0', private: true }))
  const fastifyVersion = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'fastify', 'package.json'), 'utf8')) as { version: string }).version
  const install = await run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball, `fastify@${fastifyVersion}`], project, 5 * 60 * 1000)
  if (install.code !== 0) {
    const ping = await run('npm', ['ping'], project, 60000)
    const skip = prerequisite(t, { name: 'the npm registry', available: ping.code === 0, install: 'a network path to the registry, or a warm npm cache' })
    if (skip !== false) { t.skip(skip); return }
  }
  t.equal(install.code, 0, `npm install --ignore-scripts <tarball> fastify\n${install.code === 0 ? '' : install.output}`)
  const installed = path.join(project, 'node_modules', 'fastify-handoff')
  t.notOk(fs.existsSync(path.join(installed, 'build')), 'nothing was compiled (no build/)')
  t.ok(fs.existsSync(path.join(installed, 'prebuilds', 'linux-x64', 'fastify-handoff.node')), 'the prebuild is installed')

  fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'package', 'installed-app.js'), path.join(project, 'app.js'))
  const app = await runNode(['app.js'], { cwd: project, timeout: 60000 })
  t.equal(app.code, 0, `node app.js (stderr: ${app.stderr})`)
  const seen = report<{ status: number, body: string, webPid: number, siblingPid: number }>(app)
  if (seen === null) return t.fail(`no report: ${JSON.stringify(app.stdout)}`)
  t.equal(seen.status, 200, 'the client got a 200')
  t.same(JSON.parse(seen.body), { from: 'sibling', pid: seen.siblingPid, user: 'alice' }, "from the sibling's process, with the web app's context")
  t.not(seen.siblingPid, seen.webPid, 'another process than the web app')
})
