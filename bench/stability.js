'use strict'
// Issue 7, item 4: stability over 100,000 handoffs in a row.
//
// Web app (node:http + Sender) -> sibling (createReceiver, upgrade-hello): the
// client connects, sends an upgrade, gets "101 ... hello" from the sibling, and
// the connection ends; 50 at a time. RSS and open descriptors of both
// processes early in the warm-up, after it ("start"), then every tenth of the
// run. Bounded by count (100,000) and time (80 s of load).
const fs = require('node:fs')
const { parseArgs, num, fmt, fmtBytes, table, verdict, sleep, nowMs } = require('./lib/common.js')
const { startScenario } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const TOTAL = num(args.count, quick ? 300 : 100000)
// V8 sizes its heaps during the first ~10,000 handoffs (RSS grows by about
// 30 MiB, then stays flat): the run is measured from after that, and a
// checkpoint early in the warm-up shows the growth.
const EARLY = quick ? 20 : 2000
const WARMUP = quick ? 50 : 10000
const STEPS = quick ? 2 : 10
const LOAD_SECONDS = num(args.seconds, quick ? 10 : 80)
const CONCURRENCY = 50

async function settle (s) {
  // Let closes finish (libuv close phase, FIN handling) before counting.
  await sleep(quick ? 100 : 300)
  return await s.stats()
}

async function main () {
  const s = await startScenario({ app: 'upgrade-hello', route: 'handoff' })
  const samples = []
  let done = 0
  let errors = 0
  let lastError = null
  try {
    const early = await s.client('firstByte', { port: s.port, concurrency: CONCURRENCY, count: EARLY, seconds: 30 })
    errors += early.errors
    const warmup = { label: `warm-up, after ${fmt(early.n, 0)}`, at: early.n - WARMUP, ...(await settle(s)) }
    const warm = await s.client('firstByte', { port: s.port, concurrency: CONCURRENCY, count: WARMUP - EARLY, seconds: 30 })
    errors += warm.errors
    samples.push({ label: `start (after ${fmt(early.n + warm.n, 0)} warm-up)`, at: 0, ...(await settle(s)) })
    const deadline = nowMs() + LOAD_SECONDS * 1000
    const chunk = Math.ceil(TOTAL / STEPS)
    const t0 = nowMs()
    for (let step = 1; step <= STEPS && done < TOTAL; step++) {
      const left = (deadline - nowMs()) / 1000
      if (left <= 0) break
      const r = await s.client('firstByte', { port: s.port, concurrency: CONCURRENCY, count: Math.min(chunk, TOTAL - done), seconds: left }, (left + 30) * 1000)
      done += r.n
      errors += r.errors
      if (r.lastError) lastError = r.lastError
      const st = await settle(s)
      samples.push({ label: step === STEPS ? 'end' : (step * 2 === STEPS ? 'middle' : ''), at: done, ...st })
    }
    const seconds = (nowMs() - t0) / 1000
    const first = samples[0]
    const last = samples[samples.length - 1]
    const rows = [warmup, ...samples].map((x) => [x.label, fmt(x.at, 0), fmtBytes(x.webapp.rss), String(x.webapp.fds), fmtBytes(x.sibling.rss), String(x.sibling.fds),
      String(x.sibling.live), fmt(x.webapp.handedOff, 0), String(x.webapp.failed)])
    table(`Stability: ${fmt(done, 0)} handoffs in a row (${CONCURRENCY} concurrent, ${fmt(seconds, 1)} s, ${fmt(done / seconds, 0)} handoffs/s; ${errors} client errors)`,
      ['checkpoint', 'handoffs', 'web app RSS', 'web app fds', 'sibling RSS', 'sibling fds', 'sibling live conns', 'web app handed off', 'web app failed'],
      rows,
      [`RSS from /proc/<pid>/status (VmRSS), descriptors from /proc/<pid>/fd, each sampled 300 ms after its chunk ended.${lastError ? ` Last client error: ${lastError}.` : ''}`])

    const rssGrowth = (p, from) => (last[p].rss - from[p].rss) / from[p].rss
    const fdGrowth = (p) => last[p].fds - first[p].fds
    const pct = (x) => `${x >= 0 ? '+' : ''}${fmt(x * 100, 1)} %`
    const complete = done >= TOTAL
    table('Stability: targets (issue 7)',
      ['process', 'fd growth start -> end', 'target', '', 'RSS start -> end', 'target', '', `for reference: RSS after ${fmt(EARLY, 0)} warm-up -> end`],
      ['webapp', 'sibling'].map((p) => [p === 'webapp' ? 'web app' : 'sibling', `${fdGrowth(p) >= 0 ? '+' : ''}${fdGrowth(p)}`, '0', verdict(fdGrowth(p) <= 0),
        pct(rssGrowth(p, first)), 'within 10 %', verdict(Math.abs(rssGrowth(p, first)) <= 0.10), pct(rssGrowth(p, warmup))]),
      [`"start" is after ${fmt(WARMUP, 0)} warm-up handoffs; during the first of them V8 still sizes its heaps (the last column, from ${fmt(EARLY, 0)} handoffs in).`,
        ...(complete ? [] : [`Only ${fmt(done, 0)} of ${fmt(TOTAL, 0)} handoffs fit in the time bound of ${LOAD_SECONDS} s of load.`])])
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ bench: 'stability', TOTAL, done, errors, seconds, warmup, samples }, null, 2))
    if (errors > 0 || samples.some((x) => x.webapp.failed > 0)) process.exitCode = 1
  } finally {
    await s.stop()
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
