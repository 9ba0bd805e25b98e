// Metrics (docs/metrics.md): a known sequence of handoffs against real
// receivers in child processes (one accepted, one REJECTed "capacity" by a
// receiver at its limit, one with no receiver, one timed out by a frozen
// receiver, one naming a target the sender does not have) leaves exactly
// these values in the sender's stats(), the receiver's stats, and both sides'
// Prometheus text exposition.
import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { Registry } from 'prom-client'
import { Sender, type HandoffResult } from '../../plugin/sender/index.js'
import { deployStats } from '../../plugin/metrics/deploy.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { samples } from './helpers.js'
import {
  forkFixture, listenClosing, openRaw, offerRaw, startFaulty, stopChild, tmpDir, type Child
} from '../sender/helpers.js'

/** A node:http app: an upgrade to /t/NAME goes to target NAME; `settled(n)` once n handoffs have a result. */
async function app (t: Test, sender: Sender): Promise<{ port: number, settled: (n: number) => Promise<HandoffResult[]> }> {
  const results: HandoffResult[] = []
  let waiters: Array<() => void> = []
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const target = (req.url ?? '').slice('/t/'.length)
    void sender.handoffUpgrade(req, socket, head, { target }).then((r) => {
      results.push(r)
      const w = waiters
      waiters = []
      for (const f of w) f()
    })
  })
  const port = await listenClosing(t, server, sender)
  return {
    port,
    settled: async (n) => {
      while (results.length < n) await new Promise<void>((resolve) => waiters.push(resolve))
      return results
    }
  }
}

t.test('a known sequence of handoffs: every value of both sides\' stats and Prometheus text', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const chatPath = path.join(dir, 'chat.sock')
  const frozenPath = path.join(dir, 'frozen.sock')
  const nobodyPath = path.join(dir, 'nobody.sock')
  const sibling: Child = forkFixture(t, 'receiver-raw.js', { path: chatPath, maxConnections: 1, metrics: true }, 'sibling(raw)')
  await sibling.event('ready')
  const frozen = await startFaulty(t, { path: frozenPath, mode: 'silent' })
  const registry = new Registry()
  const sender = new Sender({
    targets: {
      chat: { path: chatPath },
      none: { path: nobodyPath, connectWait: 50 },
      frozen: { path: frozenPath, timeout: 300, grace: 100, reconnect: { min: 20, max: 20 } }
    },
    metrics: { registry }
  })
  const { port, settled } = await app(t, sender)
  await sender.ready('chat')
  await sender.ready('frozen')
  const deployBefore = deployStats()

  // 1. accepted, and held open: the receiver is at its maxConnections (1) now.
  const held = await openRaw(port, '/t/chat')
  t.equal(held.status, 200, 'the sibling serves the first one')
  // 2. REJECT "capacity" (retryable, but the pool has no other receiver): 503 here.
  t.equal((await offerRaw(port, '/t/chat')).status, 503, 'the second one is refused at the limit and falls back')
  // 3. no receiver at all.
  t.equal((await offerRaw(port, '/t/none')).status, 503, 'no receiver: falls back')
  // 4. a receiver that never answers: given up at deadline + grace; the link
  //    then drops that channel and makes a new one (a reconnect).
  const frozenLink = sender.target('frozen').links[0]
  const reconnected = new Promise<void>((resolve) => frozenLink.once('ready', () => resolve()))
  t.equal((await offerRaw(port, '/t/frozen')).status, 503, 'a frozen receiver: times out and falls back')
  await reconnected
  // 5. a target this sender does not have.
  t.equal((await offerRaw(port, '/t/nope')).status, 503, 'an unknown target: refused and answered here')
  const results = await settled(5)
  t.same(results.map((r) => r.outcome), ['accepted', 'rejected', 'unavailable', 'timeout', 'refused'])

  const zero = { accepted: 0, rejected: 0, unavailable: 0, timeout: 0, lost: 0, unsent: 0, refused: 0, doubt: 0, closed: 0 }
  const stats = sender.stats()
  t.equal(stats.inFlight, 0, 'nothing in flight')
  t.equal(stats.unknownTarget, 1, 'the handoff to "nope"')
  t.same(Object.keys(stats.targets), ['chat', 'none', 'frozen'])
  const { chat, none, frozen: frozenStats } = stats.targets
  t.same(chat.outcomes, { ...zero, accepted: 1, rejected: 1 }, 'chat: one handed off, one rejected')
  t.same(chat.rejected, { capacity: 1 }, 'chat: by reason')
  t.same(chat.fallbacks, { unavailable: 1, local: 0, none: 0 }, 'chat: the rejected one answered 503 here')
  t.equal(chat.inFlight, 0)
  t.equal(chat.latency.count, 2, 'chat: both reached a verdict')
  t.equal(chat.latency.buckets.at(-1)?.[1], 2, 'the +Inf bucket holds every observation')
  t.same(chat.receivers, { [chatPath]: { live: 1, up: true, connects: 1, reconnects: 0 } }, 'chat: its receiver reported 1 live')
  t.same(none.outcomes, { ...zero, unavailable: 1 })
  t.same(none.rejected, {})
  t.same(none.fallbacks, { unavailable: 1, local: 0, none: 0 })
  t.equal(none.latency.count, 1)
  t.same(none.receivers, { [nobodyPath]: { live: 0, up: false, connects: 0, reconnects: 0 } })
  t.same(frozenStats.outcomes, { ...zero, timeout: 1 })
  t.same(frozenStats.fallbacks, { unavailable: 1, local: 0, none: 0 })
  t.equal(frozenStats.latency.count, 1)
  t.ok(frozenStats.latency.sum >= 0.4, `the timed-out handoff waited deadline + grace (${frozenStats.latency.sum} s)`)
  t.equal(frozenStats.latency.buckets.find(([le]) => le === 0.25)?.[1], 0, 'so it is above the 0.25 s bucket')
  t.same(frozenStats.receivers, { [frozenPath]: { live: 0, up: true, connects: 2, reconnects: 1 } }, 'frozen: one reconnect')

  const text = await registry.metrics()
  const lines = samples(text)
  const expected = [
    'fastify_handoff_sender_handoffs_total{target="chat",outcome="accepted"} 1',
    'fastify_handoff_sender_handoffs_total{target="chat",outcome="rejected"} 1',
    'fastify_handoff_sender_handoffs_total{target="chat",outcome="timeout"} 0',
    'fastify_handoff_sender_handoffs_total{target="none",outcome="unavailable"} 1',
    'fastify_handoff_sender_handoffs_total{target="frozen",outcome="timeout"} 1',
    'fastify_handoff_sender_handoffs_total{target="frozen",outcome="accepted"} 0',
    'fastify_handoff_sender_rejections_total{target="chat",reason="capacity"} 1',
    'fastify_handoff_sender_fallbacks_total{target="chat",fallback="unavailable"} 1',
    'fastify_handoff_sender_fallbacks_total{target="none",fallback="unavailable"} 1',
    'fastify_handoff_sender_fallbacks_total{target="frozen",fallback="unavailable"} 1',
    'fastify_handoff_sender_fallbacks_total{target="chat",fallback="local"} 0',
    'fastify_handoff_sender_unknown_target_total 1',
    'fastify_handoff_sender_in_flight{target="chat"} 0',
    'fastify_handoff_sender_handoff_duration_seconds_bucket{target="chat",le="+Inf"} 2',
    'fastify_handoff_sender_handoff_duration_seconds_count{target="chat"} 2',
    'fastify_handoff_sender_handoff_duration_seconds_bucket{target="frozen",le="0.25"} 0',
    'fastify_handoff_sender_handoff_duration_seconds_count{target="frozen"} 1',
    `fastify_handoff_sender_receiver_live_connections{target="chat",receiver="${chatPath}"} 1`,
    `fastify_handoff_sender_receiver_up{target="none",receiver="${nobodyPath}"} 0`,
    `fastify_handoff_sender_receiver_up{target="chat",receiver="${chatPath}"} 1`,
    `fastify_handoff_sender_receiver_reconnects_total{target="frozen",receiver="${frozenPath}"} 1`,
    `fastify_handoff_sender_receiver_reconnects_total{target="chat",receiver="${chatPath}"} 0`,
    `fastify_handoff_takeovers_total{result="handed_over"} ${deployBefore.takeovers.handedOver}`,
    `fastify_handoff_migrations_total ${deployBefore.migration.runs}`
  ]
  for (const line of expected) t.ok(lines.includes(line), line)
  t.match(text, /# TYPE fastify_handoff_sender_handoffs_total counter/)
  t.match(text, /# TYPE fastify_handoff_sender_handoff_duration_seconds histogram/)
  t.match(text, /# TYPE fastify_handoff_sender_receiver_live_connections gauge/)
  // Every series of the counters, and nothing else of them: 3 targets × 9 outcomes.
  t.equal(lines.filter((l) => l.startsWith('fastify_handoff_sender_handoffs_total{')).length, 27)
  t.equal(lines.filter((l) => l.startsWith('fastify_handoff_sender_rejections_total{')).length, 1)

  // The receiver's side: one accepted (still open), one rejected.
  const open = await sibling.request('stats')
  t.match(open.stats, { live: 1, total: 1, rejected: 1, rejectedBy: { capacity: 1 }, liveByTarget: { chat: 1 }, peers: 1, senderConnections: 1 })
  held.client.socket.end()
  await held.client.closed
  const { stats: rs } = await sibling.request('idle')
  t.same({ ...rs, decision: undefined }, {
    live: 0,
    total: 1,
    rejected: 1,
    peers: 1,
    untrustedPeers: 0,
    draining: false,
    rejectedBy: { capacity: 1 },
    liveByTarget: { chat: 0 },
    senderConnections: 1,
    decision: undefined
  }, 'the receiver\'s stats, every field')
  t.equal(rs.decision.count, 1, 'one decision timed (the ACCEPT)')
  const rtext = (await sibling.request('metrics')).text as string
  const rlines = samples(rtext)
  for (const line of [
    'fastify_handoff_receiver_handoffs_total{outcome="accepted"} 1',
    'fastify_handoff_receiver_handoffs_total{outcome="rejected"} 1',
    'fastify_handoff_receiver_rejections_total{reason="capacity"} 1',
    'fastify_handoff_receiver_live_connections 0',
    'fastify_handoff_receiver_target_live_connections{target="chat"} 0',
    'fastify_handoff_receiver_peers 1',
    'fastify_handoff_receiver_sender_connections_total 1',
    'fastify_handoff_receiver_untrusted_peers_total 0',
    'fastify_handoff_receiver_draining 0',
    'fastify_handoff_receiver_decision_duration_seconds_bucket{le="+Inf"} 1',
    'fastify_handoff_receiver_decision_duration_seconds_count 1',
    'fastify_handoff_takeovers_total{result="rolled_back"} 0',
    'fastify_handoff_migrated_connections_total{result="moved"} 0'
  ]) t.ok(rlines.includes(line), `receiver: ${line}`)
  t.match(rtext, /# TYPE fastify_handoff_receiver_decision_duration_seconds histogram/)

  await sender.close()
  await sibling.event('peerClose')
  await frozen.request('release')
  await stopChild(t, sibling)
  await stopChild(t, frozen, 'exit')
})

t.test('the metrics option: a registry or a typed error, and nothing left running', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const targets = { chat: path.join(dir, 'nobody.sock') }
  for (const metrics of [{}, { registry: {} }, null]) {
    t.throws(() => new Sender({ targets, metrics: metrics as never }), { code: 'ERR_HANDOFF_METRICS_OPTION' }, JSON.stringify(metrics))
  }
  const registry = new Registry()
  const first = new Sender({ targets, metrics: { registry } })
  t.throws(() => new Sender({ targets, metrics: { registry } }), { code: 'ERR_HANDOFF_METRICS_OPTION', message: /fastify_handoff_sender_handoffs_total/ },
    'a second sender on the same registry')
  await first.close()
})
