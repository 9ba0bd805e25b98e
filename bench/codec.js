'use strict'
// node bench/codec.js [--calls N] [--rounds R] [--quick] [--json FILE]
//
// The protocol codec's CPU cost per handoff, warm, version 1 (JSON metadata
// and ACCEPT) against version 2 (binary, PROTOCOL.md §14): encode and decode
// of the HANDOFF the pass-rate benchmark sends (bench/lib/frames.js, a
// loopback connection's metadata with a small context) and of its ACCEPT,
// in µs per call, the median of R rounds of N calls each after a warm-up.
// One process, no I/O: what the codec adds to each pass on each side
// (sender: encode HANDOFF + decode ACCEPT; receiver: the other two).
// Not one of `npm run bench`'s benchmarks. Run `npm run build:ts` first.
const { parseArgs, num } = require('./lib/common.js')
const { protocol, sampleRequest } = require('./lib/frames.js')

const args = parseArgs()
const calls = num(args.calls, args.quick ? 2000 : 200000)
const rounds = num(args.rounds, args.quick ? 1 : 5)

if (protocol === null || typeof protocol.MAX_PROTOCOL_VERSION !== 'number') {
  console.error('bench/codec.js: dist/protocol with version 2 is not built (npm run build:ts)')
  process.exit(1)
}

/** µs per call of fn(i): the median of `rounds` timed loops, after one untimed loop. */
function measure (fn) {
  for (let i = 0; i < Math.min(calls, 20000); i++) fn(i)
  const times = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) fn(i)
    times.push(Number(process.hrtime.bigint() - start) / calls / 1000)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

// Every result is kept somewhere the loop cannot prove unused.
let sink = 0
const ops = (version) => {
  const handoff = protocol.encodeHandoff(1, sampleRequest(), protocol.MAX_FRAME_SIZE, version)
  const accept = protocol.encodeAccept(1, { live: 5, max: null }, version)
  return {
    sizes: { handoff: handoff.length, accept: accept.length },
    'encode HANDOFF': (i) => { sink += protocol.encodeHandoff(i + 1, sampleRequest(40000 + (i & 0x3fff)), protocol.MAX_FRAME_SIZE, version).length },
    'decode HANDOFF': () => { sink += protocol.decodeMessage(handoff, { fds: 1, version }).id },
    'encode ACCEPT': (i) => { sink += protocol.encodeAccept(i + 1, { live: i & 0xffff, max: null }, version).length },
    'decode ACCEPT': () => { sink += protocol.decodeMessage(accept, { version }).id }
  }
}

const NAMES = ['encode HANDOFF', 'decode HANDOFF', 'encode ACCEPT', 'decode ACCEPT']
const results = {}
for (const version of [1, 2]) {
  const o = ops(version)
  results[version] = { sizes: o.sizes }
  for (const name of NAMES) results[version][name] = measure(o[name])
  results[version].sender = results[version]['encode HANDOFF'] + results[version]['decode ACCEPT']
  results[version].receiver = results[version]['decode HANDOFF'] + results[version]['encode ACCEPT']
}

const f = (us) => us.toFixed(2)
console.log(`### The codec per handoff, warm: version 1 (JSON) and version 2 (binary), µs per call (median of ${rounds} x ${calls.toLocaleString('en-US')} calls)`)
console.log('')
console.log('| operation | version 1 | version 2 | v1 / v2 |')
console.log('| --- | ---: | ---: | ---: |')
for (const name of [...NAMES, 'sender', 'receiver']) {
  const label = name === 'sender' ? '**sender** (encode HANDOFF + decode ACCEPT)' : name === 'receiver' ? '**receiver** (decode HANDOFF + encode ACCEPT)' : name
  console.log(`| ${label} | ${f(results[1][name])} | ${f(results[2][name])} | ${(results[1][name] / results[2][name]).toFixed(1)}x |`)
}
const build = measure((i) => { sink += sampleRequest(40000 + (i & 0x3fff)).meta.remotePort })
console.log(`| (in encode HANDOFF: building the request, as a sender does for each) | ${f(build)} | ${f(build)} | |`)
console.log(`| frame bytes: HANDOFF, ACCEPT | ${results[1].sizes.handoff}, ${results[1].sizes.accept} | ${results[2].sizes.handoff}, ${results[2].sizes.accept} | |`)
if (typeof args.json === 'string') require('node:fs').writeFileSync(args.json, JSON.stringify({ calls, rounds, results }, null, 2))
if (sink === 0.5) console.log('') // never: keeps `sink` live
