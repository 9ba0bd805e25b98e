'use strict'
// Issue 17, item 4: how the handoff's cost grows with the number of siblings
// in a pool (1, 2 and 4), on this machine's cores: report, do not extrapolate.
//
// Three node:http + Sender web apps, each with a pool target of its own
// siblings (1, 2 and 4 processes, createReceiver replaying into the
// upgrade-hello app), all running at once. Short phases alternate between
// the pools round after round: connect -> first byte at concurrency 1
// (p50/p99), then at 100 concurrent (handoffs/s and p99).
const fs = require('node:fs')
const path = require('node:path')
const { parseArgs, num, median, percentile, fmt, table, repeatWithin, tempDir } = require('./lib/common.js')
const { startSibling, startWebapp, startClient, stopAll, warmUp, rotated } = require('./lib/topology.js')

const args = parseArgs()
const quick = args.quick
const ROUNDS = num(args.rounds, quick ? 1 : 5)
const BUDGET_MS = num(args.budget, 90) * 1000
// --quick (the smoke test) starts 3 siblings, not 7: process start-up is most of its time.
const SIZES = quick ? [1, 2] : [1, 2, 4]
const P = quick
  ? { warmup: 30, c1: { count: 30, seconds: 0.3 }, c100: { count: 200, seconds: 0.3, concurrency: 20 } }
  : { warmup: 500, c1: { count: 300, seconds: 0.6 }, c100: { count: 20000, seconds: 1.5, concurrency: 100 } }

async function main () {
  const dir = tempDir()
  const procs = []
  const pools = []
  let rounds = 0
  try {
    for (const size of SIZES) {
      const paths = []
      for (let i = 0; i < size; i++) {
        const p = path.join(dir, `pool${size}-${i}.sock`)
        procs.push(await startSibling({ app: 'upgrade-hello', via: 'receiver', path: p }))
        paths.push(p)
      }
      const web = await startWebapp({ mode: 'handoff', app: 'upgrade-hello', path: paths })
      procs.unshift(web)
      pools.push({ size, name: `${size} sibling${size === 1 ? '' : 's'}`, port: web.port, c1: [], c100: [], rates: [], c100p99: [], errors: 0 })
    }
    const client = await startClient()
    procs.unshift(client)
    await warmUp(client, pools, P.warmup)
    const fb = (a) => client.request('firstByte', a)
    rounds = await repeatWithin(ROUNDS, BUDGET_MS, async (round) => {
      for (const pool of rotated(pools, round)) {
        const lat = await fb({ port: pool.port, concurrency: 1, count: P.c1.count, seconds: P.c1.seconds, samples: true })
        const load = await fb({ port: pool.port, concurrency: P.c100.concurrency, count: P.c100.count, seconds: P.c100.seconds, samples: true })
        pool.c1.push(...lat.samples)
        pool.c100.push(...load.samples)
        pool.rates.push(load.rate)
        pool.c100p99.push(load.p99)
        pool.errors += lat.errors + load.errors
      }
    })
  } finally {
    await stopAll(procs)
  }
  const sorted = (a) => Float64Array.from(a).sort()
  const one = pools[0]
  table(`Handoffs through a pool of ${SIZES.join(', ').replace(/, (\d+)$/, ' and $1')} siblings (${rounds} round${rounds === 1 ? '' : 's'} of alternating phases; ${require('node:os').cpus().length} CPUs)`,
    ['pool', 'p50 µs @1', 'p99 µs @1', `handoffs/s @${P.c100.concurrency}`, 'rounds min–max', `p50 µs @${P.c100.concurrency}`, `p99 µs @${P.c100.concurrency}`, 'handoffs/s ÷ 1 sibling', 'errors'],
    pools.map((p) => [p.name, fmt(percentile(sorted(p.c1), 50), 0), fmt(percentile(sorted(p.c1), 99), 0),
      fmt(median(p.rates), 0), `${fmt(Math.min(...p.rates), 0)}–${fmt(Math.max(...p.rates), 0)}`,
      fmt(percentile(sorted(p.c100), 50), 0), fmt(percentile(sorted(p.c100), 99), 0),
      `× ${(median(p.rates.map((r, i) => r / one.rates[i]))).toFixed(2)}`, String(p.errors)]),
    ['One node:http + Sender web app per pool (the Sender balances round robin, its default), every sibling a process of its own. ' +
      'p50/p99 over every sample of every round; handoffs/s: median over rounds; the ratio: median over rounds of the ratio within the round.'])
  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ bench: 'pool', rounds, P, pools: pools.map(({ c1, c100, ...rest }) => ({ ...rest, n1: c1.length, n100: c100.length })) }, null, 2))
  if (pools.some((p) => p.errors > 0)) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
