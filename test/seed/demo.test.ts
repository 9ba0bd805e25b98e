// The one-command demo (examples/seed-demo/run.js): Node on both sides, in
// the Go format and with the full protocol.
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { exitsWith, node, tmpDir } from '../fixtures/seed-procs.js'

for (const protocol of ['seed', 'full']) {
  t.test(`run.js --protocol ${protocol}: exits 0, every client got hello and uds-server every HELLO, socket file removed`, async (t) => {
    checkFdLeaks(t)
    const uds = path.join(tmpDir(t), 'demo.sock')
    const run = node(t, 'run', ['--port', '0', '--uds', uds, '--count', '2', '--protocol', protocol])
    await exitsWith(t, run, 0, 60000) // four processes one after the other: slow on a busy machine
    t.equal(run.count(/^\[tcp-client\] read: hello$/), 2, 'the client read hello twice')
    t.equal(run.count(/^\[uds-server\] read: HELLO$/), 2, 'uds-server read HELLO twice')
    t.equal(run.count(/^\[tcp-server\] passing fd=\d+$/), 2)
    t.equal(run.count(/^\[uds-server\] received fd=\d+$/), 2)
    t.match(run.lines.at(-1)?.text, /^\[run\] ok: /)
    t.equal(run.count(/./, 'stderr'), 0, 'nothing on stderr', { output: run.text() })
    t.notOk(fs.existsSync(uds), 'the socket file is gone')
  })
}

t.test('run.js fails (exit 1) and cleans up when the socket path is taken by a live listener', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'taken.sock')
  const other = net.createServer()
  await new Promise<void>((resolve) => other.listen(uds, resolve))
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())))
  const run = node(t, 'run', ['--port', '0', '--uds', uds])
  await exitsWith(t, run, 1)
  t.ok(run.count(/\[uds-server\] error: .*ERR_HANDOFF_PATH_IN_USE/, 'stderr') === 1, 'uds-server says why', { output: run.text() })
  t.ok(fs.existsSync(uds), 'the live listener\'s socket file was left alone')
})
