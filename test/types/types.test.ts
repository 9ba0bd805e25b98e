// tap runs TypeScript transpile-only: type errors in the declaration merging
// (route option, reply.handoff, decorators) and in the sender's and adapters'
// types are checked here with tsc, including the @ts-expect-error lines.
import t from 'tap'
import { execFile } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'

const ROOT = path.join(__dirname, '..', '..')

/** tsc --noEmit on a project (incremental: a rerun with nothing changed is quick). */
function tsc (project: string, name: string): Promise<{ code: number | null, output: string }> {
  const compiler = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const buildInfo = path.join(os.tmpdir(), `fastify-handoff-${name}-${process.getuid?.() ?? 0}.tsbuildinfo`)
  return new Promise((resolve) => {
    execFile(process.execPath, [compiler, '-p', project, '--incremental', '--tsBuildInfoFile', buildInfo], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, output: stdout + stderr })
    })
  })
}

t.test('the type tests compile (and every @ts-expect-error is an error)', async (t) => {
  checkFdLeaks(t)
  const result = await tsc(path.join(__dirname, 'tsconfig.json'), 'types')
  t.equal(result.code, 0, 'tsc --noEmit -p test/types')
  if (result.code !== 0) t.comment(result.output)
})

t.test('the same check fails on a type error and on an @ts-expect-error that is no error', async (t) => {
  checkFdLeaks(t)
  // test/fixtures/types extends test/types' tsconfig: the same options.
  const result = await tsc(path.join(ROOT, 'test', 'fixtures', 'types', 'tsconfig.json'), 'wrong-types')
  t.not(result.code, 0, 'tsc fails (1 or 2, depending on its incremental state)')
  t.match(result.output, /wrong\.types\.ts\(7,14\): error TS2345: /, 'the missing targets')
  t.match(result.output, /wrong\.types\.ts\(10,1\): error TS2578: Unused '@ts-expect-error' directive/, 'the unused directive')
})
