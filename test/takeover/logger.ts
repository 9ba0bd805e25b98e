// takeover's `log` option takes a HandoffLogger (pino's shape), like every
// other logger option of the package; the `(level, message)` function it
// took first still works (the other takeover tests use it). Anything else is
// refused before the control socket is touched.
import t from 'tap'
import http from 'node:http'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { forkFixture, stopChild } from '../helpers/child.js'
import { listen, takeover } from '../../plugin/takeover/index.js'
import { startGen } from './helpers.js'

t.test('a log option that is neither a logger nor a function is refused', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-log-'), 'control.sock')
  for (const log of [42, {}, { info: () => {} }, null]) {
    await t.rejects(takeover({ control, log: log as never }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"log"/ }, `takeover(): ${JSON.stringify(log)}`)
  }
  const server = http.createServer()
  await t.rejects(listen(server, { control, log: 'info' as never }), { code: 'ERR_HANDOFF_TAKEOVER_OPTION', message: /"log"/ }, 'listen()')
  t.notOk(server.listening, 'nothing listens')
})

t.test('a generation logging to a pino-shaped logger says why it rolled back there', async (t) => {
  checkFdLeaks(t)
  const control = path.join(tmpDir(t, 'takeover-log-'), 'control.sock')
  const first = await startGen(t, { control, logger: 'object' }, 'generation 1 (a logger)')
  const crash = forkFixture('takeover-webapp.js', { control, fault: 'crash-before-ready' }, 'crashing generation', t)
  t.equal((await crash.exited).code, 3, 'the successor crashed before ready')
  const line = await first.child.event('log', (m) => m.level === 'warn')
  t.match(line, { via: 'logger', obj: {}, msg: new RegExp(`rolled back, this generation \\(pid ${first.pid}\\) serves on`) },
    'the line came through the logger\'s warn(obj, msg)')
  await stopChild(t, first.child, 'close')
})
