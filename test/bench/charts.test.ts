// The charts and the progress of `npm run bench` (issue 16, item 6), as pure
// functions: the SVG is well-formed XML (read back by a real parser) with one
// bar per figure, its length proportional to the figure, its label and its
// printed value; the charts take the benchmarks' summaries; progress lines
// go where they should. bench-smoke.ts checks that a real run writes them.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { parseSvg, PYTHON3 } from '../helpers/svg.js'
import { prerequisite } from '../helpers/prereq.js'
import { tmpDir } from '../helpers/tmp.js'

interface Bar { label: string, value: number | null, text?: string, kind?: string }
interface Group { title?: string, bars: Bar[] }
const { barChart } = require('../../bench/lib/svg.js') as {
  barChart: (o: { title: string, subtitle?: string | string[], groups: Group[], width?: number }) => string
}
type Summary = Record<string, unknown>
const { setupCostChart, echoRateChart, writeCharts } = require('../../bench/lib/charts.js') as {
  setupCostChart: (o: { e2e?: Summary | null, wsEcho?: Summary | null, note?: string }) => string | null
  echoRateChart: (o: { wsEcho?: Summary | null, note?: string }) => string | null
  writeCharts: (jsonDir: string, outDir: string, o?: { note?: string }) => Array<{ file: string, title: string }>
}
interface Progress {
  start: (index: number, name: string, boundMs: number) => void
  round: (done: number, total: number) => void
  passOn: (text: string, to?: NodeJS.WritableStream) => void
  end: (status: string, seconds: number) => void
}
const { createProgress, lineSplitter, roundLine } = require('../../bench/lib/progress.js') as {
  createProgress: (o: { stream: NodeJS.WritableStream, live?: boolean, verbose?: boolean, total: number }) => Progress
  lineSplitter: (onRound: (done: number, total: number) => void, onText: (text: string) => void) => { push: (s: string) => void, flush: () => void }
  roundLine: (done: number, total: number) => string
}

/** A stream that keeps what is written to it, at once (the progress only ever calls write). */
function sink (): { stream: NodeJS.WritableStream, text: () => string } {
  let out = ''
  const stream = { write: (s: string) => { out += s; return true } } as unknown as NodeJS.WritableStream
  return { stream, text: () => out }
}

t.test('barChart: well-formed SVG, one bar per figure, lengths proportional to the figures', { skip: prerequisite(t, PYTHON3) }, async (t) => {
  const svg = barChart({
    title: 'A & B <test>',
    subtitle: 'a "subtitle"',
    groups: [
      { title: 'first', bars: [{ label: 'alpha', value: 100, kind: 'ours' }, { label: 'beta <&>', value: 50, text: '50 (× 0.50)', kind: 'alt' }] },
      { title: 'second', bars: [{ label: 'gamma', value: 25, kind: 'base' }, { label: 'missing', value: null }] }
    ]
  })
  const p = parseSvg(svg)
  t.equal(p.root, '{http://www.w3.org/2000/svg}svg', 'an SVG root in the SVG namespace')
  t.ok(p.width > 0 && p.height > 0, 'has a size')
  t.same(p.groups, ['first', 'second'], 'group titles, in order')
  t.same(p.labels, ['alpha', 'beta <&>', 'gamma', 'missing'], 'every label, escaped and read back as written')
  t.same(p.values, ['100', '50 (× 0.50)', '25', 'n/a'], 'the value printed beside each bar (its text when given)')
  t.same(p.bars.map((b) => [b.label, b.value]), [['alpha', 100], ['beta <&>', 50], ['gamma', 25]], 'a bar per finite figure, none for n/a')
  const [a, b, c] = p.bars
  t.ok(a.width > 100, 'the longest bar is long enough to read')
  t.ok(Math.abs(b.width / a.width - 0.5) < 0.01, `50 is half of 100 (${b.width} / ${a.width})`)
  t.ok(Math.abs(c.width / a.width - 0.25) < 0.01, `25 is a quarter of 100 (${c.width} / ${a.width})`)
  t.ok(p.bars.every((x) => x.x === a.x), 'every bar starts at the same zero')
  t.equal(b.title, 'beta <&>: 50 (× 0.50)', 'each bar has a tooltip with its label and value')
  t.notMatch(svg, /<script|href=/, 'no script, no external reference (GitHub shows it as an image)')
})

t.test('barChart: a negative figure is a bar left of the zero line', { skip: prerequisite(t, PYTHON3) }, async (t) => {
  const p = parseSvg(barChart({ title: 'signed', groups: [{ bars: [{ label: 'plus', value: 300 }, { label: 'minus', value: -100 }] }] }))
  const [plus, minus] = p.bars
  t.ok(Math.abs(minus.x + minus.width - plus.x) < 0.2, 'the negative bar ends where the positive one starts (zero)')
  t.ok(Math.abs(minus.width / plus.width - 1 / 3) < 0.01, 'one scale on both sides of zero')
})

const e2e = {
  added: {
    handoff: { name: 'fastify-handoff (node:http + Sender)', p50: 420.4, rate: 0.5, cpu: 2.7 },
    fastify: { name: 'fastify-handoff (Fastify plugin)', p50: 510, rate: 0.45, cpu: 3 },
    childsend: { name: 'Node child.send to a forked sibling', p50: 300, rate: 0.6, cpu: 2 }
  }
}
const wsEcho = {
  open: {
    direct: { name: 'direct to the sibling', p50: 900, added: 0 },
    handoff: { name: 'handed off (node:http + Sender)', p50: 1300, added: 400 },
    fastify: { name: 'handed off (Fastify plugin)', p50: 1400, added: 500 },
    proxy: { name: '@fastify/http-proxy', p50: 2100, added: 1200 },
    direct2: { name: 'direct, a second set (noise control)', p50: 850, added: -50 }
  },
  echo: {
    '64 B': {
      direct: { name: 'direct to the sibling', rate: 40000, vsDirect: 1 },
      direct2: { name: 'direct, a second set (noise control)', rate: 39000, vsDirect: 0.98 },
      handoff: { name: 'handed off (node:http + Sender)', rate: 39500, vsDirect: 0.99 },
      fastify: { name: 'handed off (Fastify plugin)', rate: 38000, vsDirect: 0.95 },
      proxy: { name: '@fastify/http-proxy', rate: 12000, vsDirect: 0.3 }
    },
    '16 KiB': {
      direct: { name: 'direct to the sibling', rate: 9000, vsDirect: 1 },
      handoff: { name: 'handed off (node:http + Sender)', rate: 8800, vsDirect: 0.98 },
      proxy: { name: '@fastify/http-proxy', rate: 2500, vsDirect: 0.28 }
    }
  }
}

t.test('setupCostChart: added p50 of the plugin, the Sender, child.send and the proxy', { skip: prerequisite(t, PYTHON3) }, async (t) => {
  const p = parseSvg(setupCostChart({ e2e, wsEcho, note: 'a note' }) ?? '')
  t.same(p.bars.map((b) => [b.label, b.value]), [
    ['fastify-handoff (Fastify plugin)', 510],
    ['fastify-handoff (node:http + Sender)', 420.4],
    ['Node child.send to a forked sibling', 300],
    ['handed off (Fastify plugin)', 500],
    ['handed off (node:http + Sender)', 400],
    ['@fastify/http-proxy', 1200],
    ['direct, a second set (noise control)', -50]
  ], 'e2e\'s three routes, then the WebSocket opens with the proxy and the noise control; direct is the zero, not a bar')
  t.same(p.values, ['+510 µs', '+420 µs', '+300 µs', '+500 µs', '+400 µs', '+1,200 µs', '-50 µs'], 'signed µs beside each bar')
  t.equal(p.groups.length, 2, 'one group per benchmark')
  t.match(setupCostChart({ e2e, wsEcho, note: 'a note' }), /a note/, 'the note (machine, load) is in the chart')
  t.same(parseSvg(setupCostChart({ e2e, wsEcho: null }) ?? '').bars.length, 3, 'without ws-echo: e2e\'s bars only')
  t.equal(setupCostChart({ e2e: null, wsEcho: null }), null, 'nothing to draw without either')
})

t.test('echoRateChart: messages/s of direct, the handoffs and the proxy, per message size', { skip: prerequisite(t, PYTHON3) }, async (t) => {
  const p = parseSvg(echoRateChart({ wsEcho }) ?? '')
  t.same(p.groups, ['64 B messages, messages/s (× direct)', '16 KiB messages, messages/s (× direct)'])
  t.same(p.bars.map((b) => [b.label, b.value]), [
    ['direct to the sibling', 40000], ['handed off (Fastify plugin)', 38000], ['handed off (node:http + Sender)', 39500], ['@fastify/http-proxy', 12000],
    ['direct, a second set (noise control)', 39000],
    ['direct to the sibling', 9000], ['handed off (node:http + Sender)', 8800], ['@fastify/http-proxy', 2500]
  ], 'the routes present in each size, the noise control last')
  t.same(p.values.slice(0, 4), ['40,000', '38,000 (× 0.95)', '39,500 (× 0.99)', '12,000 (× 0.30)'], 'rates with their ratio to direct')
  t.equal(echoRateChart({ wsEcho: null }), null, 'nothing to draw without ws-echo')
})

t.test('a figure a benchmark could not compute (NaN, null in its JSON) is "n/a", without a bar', { skip: prerequisite(t, PYTHON3) }, async (t) => {
  const p = parseSvg(setupCostChart({ e2e: { added: { handoff: { name: 'Sender', p50: null }, childsend: { name: 'child.send', p50: 250 } } } }) ?? '')
  t.same(p.labels, ['Sender', 'child.send'], 'both routes are listed')
  t.same(p.values, ['n/a', '+250 µs'])
  t.same(p.bars.map((b) => b.label), ['child.send'], 'a bar for the figure only')
})

t.test('writeCharts: reads the benchmarks\' JSON, writes the charts it can', async (t) => {
  const dir = tmpDir(t, 'handoff-charts-')
  const out = path.join(dir, 'out')
  t.same(writeCharts(dir, out), [], 'no JSON: no chart, no error')
  fs.writeFileSync(path.join(dir, 'e2e.json'), JSON.stringify({ bench: 'e2e', summary: e2e }))
  t.same(writeCharts(dir, out).map((c) => path.basename(c.file)), ['setup-cost.svg'], 'e2e alone: the setup chart')
  fs.writeFileSync(path.join(dir, 'ws-echo.json'), JSON.stringify({ bench: 'ws-echo', summary: wsEcho }))
  const written = writeCharts(dir, out, { note: 'run of today' })
  t.same(written.map((c) => path.basename(c.file)), ['setup-cost.svg', 'echo-rate.svg'], 'both')
  for (const c of written) t.match(fs.readFileSync(c.file, 'utf8'), /run of today/, `${path.basename(c.file)} carries the note`)
})

t.test('progress without a terminal: a line as each benchmark starts and ends, rounds only with --progress', async (t) => {
  const quiet = sink()
  const p = createProgress({ stream: quiet.stream, total: 2 })
  p.start(1, 'e2e', 60000)
  p.round(1, 7)
  p.passOn('(time bound: 1 of 7 repetitions)\n')
  p.end('ok', 3.25)
  t.equal(quiet.text(), '[1/2] e2e: started\n(time bound: 1 of 7 repetitions)\n[1/2] e2e: ok, 3.3 s\n')

  const verbose = sink()
  const v = createProgress({ stream: verbose.stream, verbose: true, total: 2 })
  v.start(2, 'ws-echo', 60000)
  v.round(1, 9)
  v.end('FAILED (exit 1)', 1)
  t.equal(verbose.text(), '[2/2] ws-echo: started\n[2/2] ws-echo: round 1/9 done\n[2/2] ws-echo: FAILED (exit 1), 1.0 s\n')
})

t.test('progress on a terminal: one status line redrawn, cleared before other output', async (t) => {
  const err = sink()
  const out = sink()
  const p = createProgress({ stream: err.stream, live: true, total: 3 })
  p.start(2, 'stages', 120000)
  p.round(2, 5)
  p.passOn('| table |\n', out.stream)
  p.end('ok', 10)
  t.equal(out.text(), '| table |\n', 'stdout gets the table, unchanged')
  const e = err.text()
  t.match(e, '\r\x1b[2K[2/3] stages, 2/5 rounds done, 0 s (bound 120 s)', 'the status line shows the round')
  t.ok(e.endsWith('\r\x1b[2K[2/3] stages: ok, 10.0 s\n'), 'ends with the line cleared and the result')
  t.notMatch(e, /started\n/, 'no start line: the status line is the progress')
})

t.test('lineSplitter: round markers out of a benchmark\'s stderr, the rest passed on whole', async (t) => {
  const rounds: Array<[number, number]> = []
  let text = ''
  const s = lineSplitter((d, n) => rounds.push([d, n]), (x) => { text += x })
  const all = `warming up\n${roundLine(1, 3)}(time bound: 1 of 3 repetitions)\n${roundLine(2, 3)}tail without newline`
  // Cut into chunks of 5 bytes: markers arrive split across chunks.
  for (let i = 0; i < all.length; i += 5) s.push(all.slice(i, i + 5))
  s.flush()
  t.same(rounds, [[1, 3], [2, 3]], 'every round, in order')
  t.equal(text, 'warming up\n(time bound: 1 of 3 repetitions)\ntail without newline', 'everything else, unchanged')
})
