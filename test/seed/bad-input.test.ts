// Bad input to the Node uds-server in the Go format, from a foreign peer
// (Python): a byte without a descriptor, with two, a descriptor that is a pipe
// or a regular file. Each gets a clear error line on stderr, its descriptors
// are closed (checked in uds-server's /proc/<pid>/fd and, for pipes, by the
// EPIPE the Python side then gets), and the server goes on to serve a real
// connection on the same channel.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks, describeFds } from '../helpers/fds.js'
import { exitsWith, node, python, tmpDir } from '../fixtures/seed-procs.js'

t.test('uds-server survives bad messages, closes their descriptors, serves the next connection', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'bad.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds])
  await udsServer.waitFor(/^\[uds-server\] listening on /)
  const peer = python(t, ['bad', '--uds', uds])
  await peer.waitFor(/^\[py-bad\] connected$/)
  await udsServer.waitFor(/^\[uds-server\] peer connected$/)
  const baseline = describeFds(udsServer.pid)

  const cases: Array<[string, RegExp]> = [
    ['nofd', /^\[uds-server\] error: bad message: frame declared 1 descriptor\(s\) but 0 arrived with it; they were closed \(ERR_HANDOFF_FD_MISMATCH\); waiting for the next$/],
    ['twofds', /^\[uds-server\] error: bad message: frame declared 1 descriptor\(s\) but 2 arrived with it; they were closed \(ERR_HANDOFF_FD_MISMATCH\); waiting for the next$/],
    ['pipe', /^\[uds-server\] error: fd=\d+ is not a socket \(fifo\); closed it; waiting for the next$/],
    ['file', /^\[uds-server\] error: fd=\d+ is not a socket \(file\); closed it; waiting for the next$/]
  ]
  for (const [what, line] of cases) {
    peer.send(what)
    await peer.waitFor(new RegExp(`^\\[py-bad\\] sent ${what}$`))
    await udsServer.waitFor(line, 'stderr')
    t.pass(`${what}: a clear error line on stderr`)
    t.same(describeFds(udsServer.pid), baseline, `${what}: uds-server holds no descriptor of it`)
  }
  peer.send('check')
  await peer.waitFor(/^\[py-bad\] closed by the receiver: 3\/3$/)
  t.pass('the three pipe read ends sent (two + one) are closed in uds-server: writing to them is EPIPE')

  // Still waiting: a real connection on the same channel is served.
  peer.send('good')
  await peer.waitFor(/^\[py-bad\] read: hello$/)
  await udsServer.waitFor(/^\[uds-server\] read: HELLO$/)
  await peer.waitFor(/^\[py-bad\] connection closed by the server$/)
  peer.send('quit')
  await exitsWith(t, peer, 0)
  await exitsWith(t, udsServer, 0)
  t.equal(udsServer.count(/^\[uds-server\] received fd=\d+$/), 3, 'pipe, file, and the good one reached the fd check')
  t.equal(udsServer.count(/error/, 'stderr'), 4, 'one error line per bad message, nothing else', { output: udsServer.text() })
  t.equal(udsServer.count(/error/, 'stdout'), 0, 'errors go to stderr only')
})

t.test('a listening TCP socket is not a connection: refused, closed, next one served', async (t) => {
  checkFdLeaks(t)
  // A descriptor of the right family and type that still must be refused.
  const uds = path.join(tmpDir(t), 'listening.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds])
  await udsServer.waitFor(/^\[uds-server\] listening on /)
  const peer = python(t, ['bad', '--uds', uds])
  await peer.waitFor(/^\[py-bad\] connected$/)
  await udsServer.waitFor(/^\[uds-server\] peer connected$/)
  const baseline = describeFds(udsServer.pid)
  peer.send('listening')
  await peer.waitFor(/^\[py-bad\] sent listening$/)
  await udsServer.waitFor(/^\[uds-server\] error: fd=\d+ is a listening socket, not a connection; closed it; waiting for the next$/, 'stderr')
  t.same(describeFds(udsServer.pid), baseline, 'uds-server holds no descriptor of it')
  peer.send('good')
  await peer.waitFor(/^\[py-bad\] connection closed by the server$/)
  peer.send('quit')
  await exitsWith(t, peer, 0)
  await exitsWith(t, udsServer, 0)
})
