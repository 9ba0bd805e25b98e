// Cross-language proof, full protocol: the Python peer (test/fixtures/seed_peer.py,
// standard library only, written from PROTOCOL.md alone) and the Node programs
// hand off live TCP connections both ways: HELLO, HANDOFF with metadata,
// ACCEPT / REJECT, deadlines.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { connect, exitsWith, listeningPort, node, python, tmpDir, waitForData, within } from '../fixtures/seed-procs.js'

t.test('full protocol, Node → Python: the Python peer (PROTOCOL.md alone) receives a connection and decodes its metadata', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'full-node-to-py.sock')
  const pyServer = python(t, ['uds-server', '--uds', uds, '--protocol', 'full', '--hold'])
  await pyServer.waitFor(/^\[py-uds-server\] listening on .*\(full protocol/)
  const tcpServer = node(t, 'tcp-server', ['--uds', uds, '--port', '0', '--protocol', 'full'])
  await pyServer.waitFor(/^\[py-uds-server\] HELLO from seed-demo tcp-server \(pid \d+\), protocol version 1$/)
  await tcpServer.waitFor(/^\[tcp-server\] HELLO from seed_peer.py receiver \(pid \d+\), protocol version 1$/)
  const port = await listeningPort(tcpServer)
  const before = Date.now()
  const client = connect(t, port)
  await within(new Promise((resolve) => client.socket.once('connect', resolve)), 'the client to connect')

  const [, metaJson] = await pyServer.waitFor(/^\[py-uds-server\] meta (.*)$/)
  const meta = JSON.parse(metaJson) as Record<string, unknown>
  t.same(meta, {
    kind: 'raw',
    keepAlive: false,
    sentAt: meta.sentAt,
    deadline: (meta.sentAt as number) + 5000,
    remoteAddress: '127.0.0.1',
    remotePort: client.socket.localPort,
    localAddress: '127.0.0.1',
    localPort: port,
    family: 'IPv4',
    context: { demo: 'seed-demo', connection: 1 }
  }, 'the metadata Python decoded is the connection the client made')
  t.ok(typeof meta.sentAt === 'number' && meta.sentAt >= before - 1000 && meta.sentAt <= Date.now() + 1000, 'sentAt is now')
  await pyServer.waitFor(/^\[py-uds-server\] head 0 bytes, buffered 0 bytes$/)
  await pyServer.waitFor(/^\[py-uds-server\] ACCEPT 1$/)
  // The sender closes its copy only after the ACCEPT.
  await tcpServer.waitFor(/^\[tcp-server\] ACCEPT 1 \(receiver serves 1\)$/)
  const [, fd] = await tcpServer.waitFor(/^\[tcp-server\] passing fd=(\d+)$/)
  await tcpServer.waitFor(new RegExp(`^\\[tcp-server\\] closed its copy of fd=${fd}$`))
  const order = tcpServer.lines.map((l) => l.text)
  t.ok(order.findIndex((l) => l.startsWith('[tcp-server] ACCEPT 1')) < order.findIndex((l) => l.startsWith('[tcp-server] closed its copy')),
    'tcp-server closed its copy after the ACCEPT')
  await exitsWith(t, tcpServer, 0)

  pyServer.send('go')
  await within(waitForData(client.socket, () => client.data().includes('\n')), 'a line on the client connection')
  t.same(client.events, ['data:hello\n'], 'hello, no end before it')
  client.socket.write('HELLO\n')
  await within(client.ended, 'the client connection to end')
  await pyServer.waitFor(/^\[py-uds-server\] read: HELLO$/)
  await exitsWith(t, pyServer, 0)
  t.equal(pyServer.count(/./, 'stderr'), 0, 'Python saw no protocol error', { output: pyServer.text() })
})

t.test('full protocol, Python → Node: the Python sender hands a connection to the Node uds-server', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'full-py-to-node.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds, '--protocol', 'full', '--count', '2'])
  await udsServer.waitFor(/^\[uds-server\] listening on .*\(full protocol/)
  // A deadline ten minutes out: the Node receiver decides long before it, however loaded the machine.
  const pyServer = python(t, ['tcp-server', '--uds', uds, '--port', '0', '--protocol', 'full', '--count', '2', '--deadline-offset', '600000'])
  const port = await listeningPort(pyServer)
  const client = node(t, 'tcp-client', ['--port', String(port), '--count', '2'])
  await exitsWith(t, client, 0)
  await exitsWith(t, pyServer, 0)
  await exitsWith(t, udsServer, 0)
  t.equal(udsServer.count(/^\[uds-server\] HELLO from seed_peer.py sender \(pid \d+\), protocol version 1$/), 1)
  const metas = udsServer.lines.map((l) => /^\[uds-server\] HANDOFF (\d+): (.*)$/.exec(l.text)).filter((m) => m !== null)
  t.same(metas.map((m) => Number(m[1])), [1, 2], 'HANDOFF ids 1 and 2')
  for (const [i, m] of metas.entries()) {
    t.match(JSON.parse(m[2]), { kind: 'raw', keepAlive: false, remoteAddress: '127.0.0.1', localPort: port, family: 'IPv4', context: { from: 'seed_peer.py', connection: i + 1 } })
  }
  t.equal(pyServer.count(/^\[py-tcp-server\] ACCEPT [12] \(receiver serves \d+\)$/), 2, 'Python got both ACCEPTs')
  t.equal(udsServer.count(/^\[uds-server\] read: HELLO$/), 2)
  t.equal(udsServer.count(/./, 'stderr') + pyServer.count(/./, 'stderr'), 0, 'no error on either side',
    { output: `${udsServer.text()}\n${pyServer.text()}` })
})

t.test('full protocol, REJECT: the Node tcp-server keeps the connection and answers the client itself', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'full-reject.sock')
  const pyServer = python(t, ['uds-server', '--uds', uds, '--protocol', 'full', '--reject', 'capacity'])
  await pyServer.waitFor(/^\[py-uds-server\] listening on /)
  const tcpServer = node(t, 'tcp-server', ['--uds', uds, '--port', '0', '--protocol', 'full'])
  const port = await listeningPort(tcpServer)
  const client = connect(t, port)
  await within(client.ended, 'the client connection to end')
  t.equal(client.data(), 'sorry, no receiver took this connection\n', 'the sender, still the owner, answered')
  await tcpServer.waitFor(/^\[tcp-server\] error: REJECT 1: capacity told to \(--reject\)$/, 'stderr')
  t.equal(tcpServer.count(/closed its copy/), 0, 'it did not just drop its copy')
  await exitsWith(t, tcpServer, 1)
  await pyServer.waitFor(/^\[py-uds-server\] error: HANDOFF 1: capacity: told to \(--reject\); its descriptor was closed; REJECT$/, 'stderr')
  // It still waits for the connection it was told to serve: interrupt it.
  pyServer.kill('SIGINT')
  await exitsWith(t, pyServer, 130)
  t.notOk(fs.existsSync(uds), 'it removed its socket file')
})

t.test('full protocol, deadline: the Node uds-server REJECTs "expired" a HANDOFF decided at or after its deadline', async (t) => {
  checkFdLeaks(t)
  const uds = path.join(tmpDir(t), 'full-expired.sock')
  const udsServer = node(t, 'uds-server', ['--uds', uds, '--protocol', 'full'])
  await udsServer.waitFor(/^\[uds-server\] listening on /)
  // deadline = sentAt: already past when uds-server decides.
  const pyServer = python(t, ['tcp-server', '--uds', uds, '--port', '0', '--protocol', 'full', '--deadline-offset', '0'])
  const port = await listeningPort(pyServer)
  const client = connect(t, port)
  await within(client.ended, 'the client connection to end')
  t.equal(client.data(), 'sorry, no receiver took this connection\n', 'the Python sender kept it and answered')
  await udsServer.waitFor(/^\[uds-server\] error: HANDOFF 1: decided after its deadline; closed fd=\d+; REJECT expired$/, 'stderr')
  await pyServer.waitFor(/^\[py-tcp-server\] error: REJECT 1: expired /, 'stderr')
  t.equal(udsServer.count(/ACCEPT/), 0, 'no ACCEPT')
  await exitsWith(t, pyServer, 1)
  // It still waits for the connection it was told to serve: stop it.
  udsServer.kill('SIGTERM')
  await exitsWith(t, udsServer, 1)
  t.notOk(fs.existsSync(uds), 'it removed its socket file')
})
