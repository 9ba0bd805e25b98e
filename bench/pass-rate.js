'use strict'
// Issue 7, item 1: descriptor pass rate and cost.
//
// Side by side in one run, each contender in processes of its own, the
// contenders interleaved within each repetition (medians of 5):
//   - C: sendmsg/recvmsg with SCM_RIGHTS over a socketpair (bench/c/fdpass.c,
//     compiled now with cc -O2): the floor; and the same frame without a descriptor
//   - fastify-handoff's Channel over a Unix path between two Node processes:
//     raw (the frame built once), with the protocol codec on both sides, with
//     the least any JavaScript codec does for the same bytes (protocol v2: a
//     bound, nothing checked), and codec + the receiver rebuilding a net.Socket
//     on the descriptor
//   - Node's child.send(msg, socket) to a forked child
// Each pass carries a TCP socket's descriptor and ~200 B of metadata; the
// receiver closes the descriptor and acknowledges (ACCEPT); at most `window`
// passes are unacknowledged. Then the round trip pass -> ACCEPT, one in flight.
const path = require('node:path')
const fs = require('node:fs')
const {
  parseArgs, num, run, runNode, median, fmt, fmtRatio, table, verdict, tempDir, repeatWithin, runsLabel
} = require('./lib/common.js')
const { frames } = require('./lib/frames.js')

const args = parseArgs()
const quick = args.quick
const reps = num(args.reps, quick ? 1 : 5)
// Repetitions stop early rather than run past this (the runner kills a script at 120 s).
const BUDGET_MS = num(args.budget, 95) * 1000
const window = num(args.window, 32)
const P = quick
  ? { warmup: 50, seconds: 0.3, rtt: 50, rttSeconds: 0.2, cMax: 2000, nodeMax: 500, childMax: 200 }
  : { warmup: 2000, seconds: 0.6, rtt: 1000, rttSeconds: 0.3, cMax: 1000000, nodeMax: 300000, childMax: 100000 }

function buildC () {
  const out = path.join(tempDir('handoff-bench-c-'), 'fdpass')
  const src = path.join(__dirname, 'c', 'fdpass.c')
  return run('cc', ['-O2', '-Wall', '-o', out, src], { timeoutMs: 60000 }).then((r) => {
    if (r.code !== 0) throw new Error(`cc failed: ${r.stderr}`)
    return out
  })
}

async function main () {
  const f = frames()
  const ackSize = f.encodeAccept(1, 1).length
  const codecSize = f.encodeHandoff(1, 40000).length
  let fdpass = null
  let cError = null
  try { fdpass = await buildC() } catch (err) { cError = err.message }

  const nodeArgs = (mode, max) => ['--mode', mode, '--warmup', P.warmup, '--max', max, '--seconds', P.seconds,
    '--window', window, '--rtt', P.rtt, '--rtt-seconds', P.rttSeconds].map(String)
  const cArgs = (withFd) => [codecSize, ackSize, withFd, P.warmup, P.cMax, P.seconds, window, P.rtt, P.rttSeconds].map(String)
  const runC = async (withFd) => {
    if (fdpass === null) throw new Error(cError)
    const r = await run(fdpass, cArgs(withFd), { timeoutMs: 60000 })
    if (r.code !== 0 || r.json === null) throw new Error(`fdpass: exit ${r.code} ${r.stderr}`)
    return r.json
  }
  const contenders = [
    { key: 'c', name: 'C sendmsg/recvmsg (the floor)', frame: codecSize, run: () => runC(1) },
    { key: 'c-nofd', name: 'C, same frame, no descriptor', frame: codecSize, run: () => runC(0), info: true },
    { key: 'raw', name: 'fastify-handoff Channel, raw', frame: f.handoffSize, run: () => runNode('pass/channel.js', nodeArgs('raw', P.nodeMax)) },
    { key: 'codec', name: 'Channel + protocol codec', frame: codecSize, run: () => runNode('pass/channel.js', nodeArgs('codec', P.nodeMax)) },
    ...(f.least === null || f.least === undefined
      ? []
      : [{ key: 'least', name: 'Channel + the least codec (a bound)', frame: codecSize, run: () => runNode('pass/channel.js', nodeArgs('least', P.nodeMax)) }]),
    { key: 'rebuild', name: 'Channel + codec + net.Socket rebuild', frame: codecSize, run: () => runNode('pass/channel.js', nodeArgs('rebuild', P.nodeMax)) },
    { key: 'child', name: 'Node child.send(msg, socket)', frame: null, run: () => runNode('pass/child-send.js', nodeArgs('child', P.childMax)) }
  ]
  const results = Object.fromEntries(contenders.map((c) => [c.key, []]))
  const errors = {}
  const ran = await repeatWithin(reps, BUDGET_MS, async () => {
    for (const c of contenders) {
      try {
        const r = await c.run()
        results[c.key].push(r)
        if (c.key === 'child') c.frame = r.frameSize
      } catch (err) {
        errors[c.key] = err.message.split('\n')[0]
        process.stderr.write(`pass-rate: ${c.name}: ${err.message}\n`)
      }
    }
  })

  const m = (key, field) => median(results[key].map((r) => r[field]))
  const range = (key) => {
    const v = results[key].map((r) => r.rate)
    return v.length > 1 ? `${fmt(Math.min(...v), 0)}–${fmt(Math.max(...v), 0)}` : ''
  }
  const rows = contenders.map((c) => results[c.key].length === 0
    ? [c.name, c.frame ?? '', 'failed: ' + (errors[c.key] ?? '?'), '', '', '', '', '', '']
    : [c.name, c.frame ?? '', fmt(m(c.key, 'rate'), 0), range(c.key),
        fmt(m(c.key, 'senderCpuUs'), 1), fmt(m(c.key, 'receiverCpuUs'), 1),
        fmt(median(results[c.key].map((r) => r.senderCpuUs + r.receiverCpuUs)), 1),
        fmt(m(c.key, 'rttP50'), 1), fmt(m(c.key, 'rttP99'), 1)])
  table(`Descriptor pass rate and cost (window ${window}, ${runsLabel(ran, reps)}, frames: ${f.kind})`,
    ['contender', 'frame B', 'passes/s', 'range', 'sender CPU µs/pass', 'receiver CPU µs/pass', 'total CPU µs/pass', 'RTT p50 µs', 'RTT p99 µs'],
    rows,
    ['"frame B": bytes of the frame (for child.send, of its JSON message). RTT: pass + ACCEPT round trip, one in flight.',
      'CPU per pass: process.cpuUsage() (getrusage in C) deltas over the rate phase, reported by each process itself.'])

  // Ratios: median over repetitions of the per-repetition ratio (the contenders of a repetition ran back to back).
  const ratio = (a, b, field = 'rate') => {
    const n = Math.min(results[a].length, results[b].length)
    const v = []
    for (let i = 0; i < n; i++) v.push(results[a][i][field] / results[b][i][field])
    return median(v)
  }
  const cpuTotal = (r) => r.senderCpuUs + r.receiverCpuUs
  const cpuRatio = (a, b) => {
    const n = Math.min(results[a].length, results[b].length)
    const v = []
    for (let i = 0; i < n; i++) v.push(cpuTotal(results[a][i]) / cpuTotal(results[b][i]))
    return median(v)
  }
  const targetRows = []
  for (const k of ['raw', 'codec', 'least', 'rebuild']) {
    if (results[k] === undefined) continue
    const name = contenders.find((c) => c.key === k).name
    const vsChild = ratio(k, 'child')
    const vsC = ratio(k, 'c')
    targetRows.push([name, fmtRatio(vsChild), '≥ 5', k === 'raw' ? verdict(Number.isFinite(vsChild) ? vsChild >= 5 : null) : (vsChild >= 5 ? '(met)' : '(missed)'),
      fmtRatio(vsC), '≥ 0.5', k === 'raw' ? verdict(Number.isFinite(vsC) ? vsC >= 0.5 : null) : (vsC >= 0.5 ? '(met)' : '(missed)'),
      fmtRatio(cpuRatio(k, 'child')), fmtRatio(cpuRatio(k, 'c'))])
  }
  table('Pass rate: ratios and targets (issue 7)',
    ['ours', 'passes/s ÷ child.send', 'target', '', 'passes/s ÷ C', 'target', '', 'CPU/pass ÷ child.send', 'CPU/pass ÷ C'],
    targetRows,
    [`The targets apply to the raw channel (first row); the other rows add per-pass work a real peer does (the protocol codec, ${f.kind}; net.Socket), shown for comparison.`,
      ...(results.least === undefined
        ? []
        : ['"the least codec": the same bytes written and read with nothing checked (bench/lib/frames.js, leastCodec): a lower bound for any JavaScript codec of protocol v2, not a codec.'])])

  const summary = { bench: 'pass-rate', reps, window, frames: f.kind, results, errors }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(summary, null, 2))
  if (Object.keys(errors).length > 0) process.exitCode = 1
}

main().catch((err) => { console.error(err); process.exit(1) })
