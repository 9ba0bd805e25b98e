// Where a generation's listeners come from, in order: the predecessor, then
// systemd socket activation (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, for real:
// the child inherits the descriptor as fd 3), then a fresh bind; several
// listeners at once; a plain node:http server and an Express app with the same one line.
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { stopChild } from '../helpers/child.js'
import { getJson } from '../examples/helpers.js'
import { listeningInode, socketInodes, startActivated, startGen } from './helpers.js'

const { listeningFd } = require('../../dist/internals.js') as { listeningFd: (server: net.Server) => number }

t.test('systemd socket activation: the first generation serves on the inherited socket, its successor takes it over', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-systemd-')
  const control = path.join(dir, 'control.sock')
  // The service manager's part: a listening socket, passed as fd 3.
  const manager = net.createServer()
  await new Promise<void>((resolve) => manager.listen(0, '127.0.0.1', resolve))
  const port = (manager.address() as net.AddressInfo).port
  const inode = listeningInode(port)
  const first = startActivated(t, { control }, [listeningFd(manager)], { LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' }, 'activated generation')
  const listening = await first.event('listening')
  t.match(listening, { source: 'systemd', generation: 1, port }, 'the first generation took systemd\'s socket')
  // The manager keeps its copy in real life; closing ours shows the child alone serves.
  await new Promise((resolve) => manager.close(resolve))
  t.equal((await getJson(`http://127.0.0.1:${port}/gen`)).pid, first.pid, 'served by the activated generation')
  t.ok(socketInodes(first.pid).includes(inode), 'on the very socket systemd made')
  // Inherited without close-on-exec; a process it starts must not get it.
  const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${first.pid}/fdinfo/3`, 'utf8'))?.[1] ?? '0', 8)
  t.equal(flags & 0o2000000, 0o2000000, 'descriptor 3 is close-on-exec now')

  const second = await startGen(t, { control, port }, 'generation 2')
  t.match(second, { source: 'takeover', generation: 2 }, 'the next generation takes it from its predecessor, not from systemd')
  t.equal(listeningInode(port), inode, 'the same socket')
  t.same(await first.exited, { code: 0, signal: null }, 'the activated generation retired and exited')
  t.equal((await getJson(`http://127.0.0.1:${port}/gen`)).pid, second.pid)
  await stopChild(t, second.child, 'close')
})

t.test('two listeners in one generation (Fastify and node:http): both are taken over, each on its own socket', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-two-')
  const control = path.join(dir, 'control.sock')
  const first = await startGen(t, { control, second: true }, 'generation 1')
  const admin = (await first.child.event('admin')).port
  const inodes = [listeningInode(first.port), listeningInode(admin)]
  t.not(inodes[0], inodes[1])
  const second = await startGen(t, { control, port: first.port, second: true }, 'generation 2')
  const admin2 = (await second.child.event('admin')).port
  t.equal(admin2, admin, 'the second listener kept its port')
  t.same([listeningInode(first.port), listeningInode(admin)], inodes, 'both sockets are the same ones')
  for (const inode of inodes) t.ok(socketInodes(second.pid).includes(inode))
  await first.child.exited
  t.equal((await getJson(`http://127.0.0.1:${first.port}/gen`)).pid, second.pid, 'the Fastify listener is served by generation 2')
  t.equal((await getJson(`http://127.0.0.1:${admin}/gen`)).pid, second.pid, 'the node:http one too')
  await stopChild(t, second.child, 'close')
})

for (const kind of ['http', 'express']) {
  t.test(`${kind === 'http' ? 'a plain node:http server' : 'an Express app'}: the same one line, the same takeover`, async (t) => {
    checkFdLeaks(t)
    const dir = tmpDir(t, `takeover-${kind}-`)
    const control = path.join(dir, 'control.sock')
    const first = await startGen(t, { control, fault: kind }, 'generation 1')
    const inode = listeningInode(first.port)
    const second = await startGen(t, { control, port: first.port, fault: kind }, 'generation 2')
    t.match(second, { source: 'takeover', generation: 2 })
    t.equal(listeningInode(first.port), inode)
    t.same(await first.child.exited, { code: 0, signal: null })
    t.match(await getJson(`http://127.0.0.1:${first.port}/gen`), { pid: second.pid, generation: 2, ...(kind === 'express' ? { express: true } : {}) })
    await stopChild(t, second.child, 'close')
  })
}
