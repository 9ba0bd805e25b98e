// tap runs TypeScript transpile-only: type errors in the declaration merging
// (route option, reply.handoff, decorators) and in the sender's and adapters'
// types are checked here with tsc, including the @ts-expect-error lines.
import t from 'tap'
import { execFile } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'

t.test('the type tests compile (and every @ts-expect-error is an error)', async (t) => {
  checkFdLeaks(t)
  const root = path.join(__dirname, '..', '..')
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = await new Promise<{ code: number | null, output: string }>((resolve) => {
    // Incremental: a rerun with nothing changed is quick.
    const buildInfo = path.join(os.tmpdir(), `fastify-handoff-types-${process.getuid?.() ?? 0}.tsbuildinfo`)
    execFile(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json'), '--incremental', '--tsBuildInfoFile', buildInfo], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, output: stdout + stderr })
    })
  })
  t.equal(result.code, 0, 'tsc --noEmit -p test/types')
  if (result.code !== 0) t.comment(result.output)
})
