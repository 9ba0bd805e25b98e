// `npm run demo` when it cannot run: the port is taken, or the flags are wrong.
import t from 'tap'
import fs from 'node:fs'
import http from 'node:http'
import { checkFdLeaks } from '../helpers/fds.js'
import { exitsWith, node } from '../examples/helpers.js'

t.test('demo: --port taken by another listener: a clear error, exit 1, nothing left behind', async (t) => {
  checkFdLeaks(t)
  const other = http.createServer()
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())))
  const port = (other.address() as { port: number }).port
  const proc = node(t, 'examples/demo/run.js', ['--port', String(port)])
  const [, dir] = await proc.waitFor(/handoffs on (\S+)\/chat\.sock$/)
  await exitsWith(t, proc, 1)
  t.ok(proc.count(/EADDRINUSE/, 'stderr') > 0, 'says the port is in use', { output: proc.text() })
  t.notOk(fs.existsSync(dir), 'the socket directory is gone')
})

t.test('demo: bad flags print the usage, exit 2', async (t) => {
  checkFdLeaks(t)
  const proc = node(t, 'examples/demo/run.js', ['--port', 'eighty'])
  await exitsWith(t, proc, 2)
  t.equal(proc.count(/^usage: node examples\/demo\/run\.js/, 'stderr'), 1)
})
