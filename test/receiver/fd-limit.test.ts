// A receiver at its descriptor limit cannot take the client's descriptor:
// the kernel truncates it (MSG_CTRUNC) and the receiver answers REJECT
// "descriptors-truncated" (retryable), so the library's own sender (a web
// app in a child process) keeps the connection and answers it; once below
// the limit, handoffs are taken again. The limit is lowered on the running
// receiver with prlimit(1) to its lowest free descriptor number.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { checkFdLeaks, openFds } from '../helpers/fds.js'
import { hasCommand, prerequisite } from '../helpers/prereq.js'
import { rawClient, startPair, stopChild } from './helpers.js'

function setSoftNofile (pid: number, soft: number | string): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`])
}

function softNofile (pid: number): string {
  return execFileSync('prlimit', ['--pid', String(pid), '--nofile', '--output=SOFT', '--noheadings']).toString().trim()
}

const HEAD = 'GET /fd HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'

t.test('at its fd limit the receiver REJECTs "descriptors-truncated"; the sender answers 503; below it, handoffs resume', {
  skip: process.platform !== 'linux'
    ? 'prlimit is Linux only'
    : prerequisite(t, { name: 'prlimit', available: hasCommand('prlimit'), install: 'apt-get install util-linux' })
}, async (t) => {
  checkFdLeaks(t)
  const { receiver, webapp } = await startPair(t, 'raw')
  const original = softNofile(receiver.pid)
  const open = receiver.fds()
  // The limit bounds descriptor numbers: at the lowest free number, no new one fits.
  const used = new Set(openFds(receiver.pid).map(Number))
  let lowestFree = 0
  while (used.has(lowestFree)) lowestFree++
  setSoftNofile(receiver.pid, lowestFree)
  const client = rawClient(webapp.port)
  client.socket.write(HEAD)
  t.match(await webapp.event('result'), { outcome: 'rejected', handedOff: false, reason: 'descriptors-truncated' })
  t.match((await client.ended).toString('latin1'), /^HTTP\/1\.1 503 /, 'the web app answered the client')
  await client.closed
  t.match((await receiver.event('reject')).reject, { reason: 'descriptors-truncated', retryable: true })
  t.equal(receiver.fds(), open, 'nothing of it is left open in the receiver')
  setSoftNofile(receiver.pid, original)
  const again = rawClient(webapp.port)
  again.socket.write(HEAD)
  t.match(await webapp.event('result'), { outcome: 'accepted', handedOff: true }, 'below the limit: accepted')
  const line = await again.waitFor((d) => d.includes('\n'))
  t.equal(JSON.parse(line.subarray(0, line.indexOf('\n')).toString()).pid, receiver.pid)
  again.socket.end()
  await again.closed
  await receiver.request('idle')
  await stopChild(t, webapp)
  await stopChild(t, receiver, 'close')
})
