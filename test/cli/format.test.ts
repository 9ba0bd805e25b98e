// The text and JSON the tool prints for answers a test receiver does not
// give on its own (status.test.ts shows the real ones): no kernel
// credentials, a receiver with a name and a range of protocol versions, a
// limit, draining, one of each count, senders beyond what the report lists.
import t from 'tap'
import { formatDuration, formatStatus, statusJson } from '../../plugin/cli/format.js'
import type { StatusAnswer } from '../../plugin/cli/query.js'

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0)

const USUAL: StatusAnswer['report'] = {
  live: 3,
  max: null,
  draining: false,
  total: 10,
  rejected: 0,
  peers: 1,
  untrustedPeers: 0,
  senders: [{ pid: 7, uid: 1000, gid: 1001 }],
  pid: 41,
  startedAt: NOW - 90061000,
  implementation: 'fastify-handoff 0.1.0 (node v20.20.0)'
}

function answer (over: { report?: Partial<StatusAnswer['report']>, credentials?: StatusAnswer['credentials'], minVersion?: number }): StatusAnswer {
  return {
    address: '/run/app/r.sock',
    hello: { protocol: 'fastify-handoff', version: 2, minVersion: over.minVersion ?? 2, role: 'receiver', pid: 41, maxFrameSize: 1048576 },
    credentials: over.credentials === undefined ? { pid: 42, uid: 1000, gid: 1001 } : over.credentials,
    report: { ...USUAL, ...over.report }
  }
}

t.test('without kernel credentials: the receiver\'s own pid, no uid or gid', async (t) => {
  const json = statusJson(answer({ credentials: null }), NOW)
  t.same({ pid: json.receiver.pid, uid: json.receiver.uid, gid: json.receiver.gid }, { pid: 41, uid: null, gid: null })
  t.match(formatStatus(answer({ credentials: null }), NOW), /^ {2}process {5}pid 41$/m, 'no ids shown')
  // A pid of 0 from the kernel (another pid namespace) is not shown as the receiver's.
  t.equal(statusJson(answer({ credentials: { pid: 0, uid: 1000, gid: 1001 } }), NOW).receiver.pid, 41)
})

t.test('a named receiver speaking a range of versions, limited, draining, with one of each', async (t) => {
  const a = answer({
    minVersion: 1,
    report: { name: 'chat', max: 500, draining: true, live: 1, untrustedPeers: 1, peers: 3, senders: [{ pid: 7, uid: 1000, gid: 1001, name: 'web' }] }
  })
  const text = formatStatus(a, NOW)
  t.match(text, /^ {2}process {5}pid 42 \(uid 1000, gid 1001\) "chat"$/m)
  t.match(text, /^ {2}version {5}fastify-handoff 0\.1\.0 \(node v20\.20\.0\), protocol 1-2$/m)
  t.match(text, /^ {2}up {10}1d 1h 1m 1s \(since /m)
  t.match(text, /^ {2}state {7}draining \(new handoffs are refused\)$/m)
  t.match(text, /^ {2}live {8}1 connection \(max 500\)$/m)
  t.match(text, /, 1 untrusted peer dropped$/m)
  t.match(text, /^ {14}pid 7 \(uid 1000, gid 1001\) "web"$/m)
  t.match(text, /^ {14}\(2 not listed: still in their HELLO, or beyond what one report holds\)$/m)
  t.match(statusJson(a, NOW), { receiver: { name: 'chat', protocol: { minVersion: 1, version: 2 } }, max: 500, draining: true })
})

t.test('the usual receiver: one version, accepting, plural counts, every sender listed', async (t) => {
  const text = formatStatus(answer({}), NOW)
  t.match(text, /protocol 2$/m)
  t.match(text, /^ {2}state {7}accepting handoffs$/m)
  t.match(text, /^ {2}live {8}3 connections$/m)
  t.match(text, /, 0 untrusted peers dropped$/m)
  t.notMatch(text, /not listed/)
  t.notOk('name' in statusJson(answer({}), NOW).receiver)
})

t.test('durations', async (t) => {
  t.equal(formatDuration(0), '0s')
  t.equal(formatDuration(999), '0s')
  t.equal(formatDuration(3600 * 1000), '1h 0m 0s')
  t.equal(formatDuration(2 * 86400 * 1000 + 5000), '2d 0h 0m 5s')
  t.equal(statusJson(answer({ report: { startedAt: NOW + 5000 } }), NOW).receiver.uptimeMs, 0, 'a clock behind the receiver\'s: no negative uptime')
})
