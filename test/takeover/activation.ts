// systemd socket activation with more than one descriptor, not all of them
// ours to serve: a listening Unix socket (served: HTTP on a socket path, by
// the listener's next-in-order rule since none is named "http"), a stream
// socket that listens to nothing, and a descriptor number that is not open.
// The generation serves what it can and leaves the rest alone; its
// successor is offered the Unix listener as a Unix one, and serves it.
// (Before the fix in takeover/listen.ts, Fastify threw on the null address
// Node gives a pipe server listening on a descriptor, and the offer called
// the listener TCP, which a successor refuses.)
import t from 'tap'
import http from 'node:http'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { stopChild } from '../helpers/child.js'
import { listenUnix } from '../../plugin/unix.js'
import { startActivated, startGen } from './helpers.js'

t.test('activated with a Unix listener, a socket that does not listen and a closed descriptor: it serves HTTP on the Unix one', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t, 'takeover-systemd-')
  const socketPath = path.join(dir, 'http.sock')
  // The service manager's part: it keeps its copy of the listening socket
  // and accepts nothing on it (a server of this process would share the
  // accept queue with the generation and take some of the requests).
  const manager = await listenUnix(socketPath)
  manager.pause()
  t.teardown(() => manager.close())
  // fd 3: the listener; fd 4: one end of a socket pair (a stream socket, not
  // listening); fd 5: not open in the child.
  const gen = startActivated(t, { control: path.join(dir, 'control.sock') }, [manager.fd, 'pipe', 'ignore'],
    { LISTEN_FDS: '3', LISTEN_FDNAMES: 'admin:pair:gone' }, 'activated generation')
  const listening = await gen.event('listening')
  t.match(listening, { source: 'systemd', generation: 1 }, 'it took systemd\'s listener')
  t.equal(listening.port, undefined, 'a socket path, no port')
  t.match(await genOver(socketPath), { pid: gen.pid, generation: 1 }, 'HTTP over the Unix socket systemd made, served by the generation')

  // Its successor is offered the Unix listener as one (not as TCP), and serves it.
  const next = await startGen(t, { control: path.join(dir, 'control.sock') }, 'generation 2')
  t.match(next, { source: 'takeover', generation: 2 }, 'the successor took the Unix listener over')
  t.same(await gen.exited, { code: 0, signal: null }, 'the activated generation retired and exited')
  t.match(await genOver(socketPath), { pid: next.pid, generation: 2 }, 'the same socket path, now served by the successor')
  await stopChild(t, next.child, 'close')
})

/** GET /gen over the Unix socket at `socketPath`. */
async function genOver (socketPath: string): Promise<{ pid: number, generation: number }> {
  return await new Promise((resolve, reject) => {
    http.get({ socketPath, path: '/gen' }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve(JSON.parse(body)))
    }).on('error', reject)
  })
}
