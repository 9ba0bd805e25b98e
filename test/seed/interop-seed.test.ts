// Cross-language proof, Go format: a Python peer (test/fixtures/seed_peer.py,
// standard library only) and the Node programs pass live TCP connections both
// ways with one byte + one descriptor a message.
import t from 'tap'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { connect, exitsWith, listeningPort, node, python, tmpDir, waitForData, within } from '../fixtures/seed-procs.js'

t.test('Go format, Python → Node: the Python tcp-server passes a connection to the Node uds-server', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'py-to-node.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds, '--count', '2'])
  await udsServer.waitFor(/^\[uds-server\] listening on /)
  const pyServer = python(t, ['tcp-server', '--uds', uds, '--port', '0', '--count', '2'])
  const port = await listeningPort(pyServer)
  const client = node(t, 'tcp-client', ['--port', String(port), '--count', '2'])
  await exitsWith(t, client, 0)
  await exitsWith(t, pyServer, 0)
  await exitsWith(t, udsServer, 0)
  t.equal(pyServer.count(/^\[py-tcp-server\] passing fd=\d+$/), 2, 'Python passed two')
  t.equal(udsServer.count(/^\[uds-server\] received fd=\d+$/), 2, 'Node received two')
  t.equal(client.count(/^\[tcp-client\] read: hello$/), 2, 'the client read hello from Node')
  t.equal(udsServer.count(/^\[uds-server\] read: HELLO$/), 2, 'Node read HELLO')
  t.equal(udsServer.count(/./, 'stderr'), 0, 'no error', { output: udsServer.text() })
})

t.test('Go format, Node → Python: the Node tcp-server passes a connection to a Python receiver; its close sends no FIN', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'node-to-py.sock')
  const pyServer = python(t, ['uds-server', '--uds', uds, '--hold'])
  await pyServer.waitFor(/^\[py-uds-server\] listening on /)
  const tcpServer = node(t, 'tcp-server', ['--uds', uds, '--port', '0'])
  const port = await listeningPort(tcpServer)
  const client = connect(t, port)

  const [, fd] = await tcpServer.waitFor(/^\[tcp-server\] passing fd=(\d+)$/)
  // The Python receiver has the connection and holds it; tcp-server has
  // closed its own copy (the handle's close callback ran) and exited.
  await pyServer.waitFor(/^\[py-uds-server\] received fd=\d+$/)
  await pyServer.waitFor(/^\[py-uds-server\] holding/)
  await tcpServer.waitFor(new RegExp(`^\\[tcp-server\\] closed its copy of fd=${fd}$`))
  await exitsWith(t, tcpServer, 0)
  // Only now may the receiver write. Had tcp-server's close shut the
  // connection down (FIN), Python's write would fail with EPIPE and the
  // client would see its end before any data.
  pyServer.send('go')
  await within(waitForData(client.socket, () => client.data().includes('\n')), 'a line on the client connection')
  t.equal(client.data(), 'hello\n', 'hello from Python, after tcp-server closed its copy')
  t.same(client.events, ['data:hello\n'], 'no end before hello')
  client.socket.write('HELLO\n')
  await within(client.ended, 'the client connection to end')
  t.same(client.events, ['data:hello\n', 'end'], 'the end comes from the receiver, after HELLO')
  await pyServer.waitFor(/^\[py-uds-server\] read: HELLO$/)
  await exitsWith(t, pyServer, 0)
})
