// The three seed-demo programs started on their own, and their errors.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { exitsWith, listeningPort, node, tmpDir } from '../fixtures/seed-procs.js'

t.test('the three programs started by hand: each exits 0, uds-server removes its socket file', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'manual.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds])
  await udsServer.waitFor(/^\[uds-server\] listening on /)
  const tcpServer = node(t, 'tcp-server', ['--uds', uds, '--port', '0'])
  const port = await listeningPort(tcpServer)
  const client = node(t, 'tcp-client', ['--port', String(port)])
  const [, passed] = await tcpServer.waitFor(/^\[tcp-server\] passing fd=(\d+)$/)
  await tcpServer.waitFor(new RegExp(`^\\[tcp-server\\] closed its copy of fd=${passed}$`))
  await udsServer.waitFor(/^\[uds-server\] received fd=\d+$/)
  await exitsWith(t, client, 0)
  await exitsWith(t, tcpServer, 0)
  await exitsWith(t, udsServer, 0)
  t.equal(client.count(/^\[tcp-client\] read: hello$/), 1)
  t.equal(udsServer.count(/^\[uds-server\] read: HELLO$/), 1)
  t.notOk(fs.existsSync(uds), 'uds-server removed its socket file')
})

t.test('tcp-server without a uds-server: a clear error, exit 1', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'nobody.sock')
  const tcpServer = node(t, 'tcp-server', ['--uds', uds, '--port', '0'])
  await exitsWith(t, tcpServer, 1)
  t.equal(tcpServer.count(/^\[tcp-server\] error: .*(ENOENT|ECONNREFUSED)/, 'stderr'), 1, 'says why', { output: tcpServer.text() })
})

t.test('bad flags: usage on stderr, exit 2', async (t) => {
  checkFdLeaks(t)
  const proc = node(t, 'uds-server', ['--protocol', 'grpc'])
  await exitsWith(t, proc, 2)
  t.equal(proc.count(/--protocol must be "seed" or "full"/, 'stderr'), 1)
})
