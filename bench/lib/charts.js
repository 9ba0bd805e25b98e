'use strict'
// The charts of `npm run bench`, from the figures the benchmarks computed for
// their tables (the `summary` of bench/e2e.js's and bench/ws-echo.js's JSON):
//   setup-cost.svg  what a connection's setup costs over a web app answering
//                   itself: fastify-handoff (plugin, node:http Sender) against
//                   child.send (bench/e2e.js) and against the proxy (bench/ws-echo.js)
//   echo-rate.svg   WebSocket echo messages/s after the handoff, against
//                   direct connections to the sibling and the proxy
// Where the benchmark has one, the noise control (a second, identical set of
// direct connections) is drawn too: how far apart two routes that do the same
// thing land in the run, the yardstick for every other difference.
const fs = require('node:fs')
const path = require('node:path')
const { barChart } = require('./svg.js')
const { fmt, fmtRatio } = require('./common.js')

const KIND = { direct: 'base', direct2: 'base', handoff: 'ours', fastify: 'ours', childsend: 'alt', proxy: 'alt' }

function signedUs (v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return 'n/a'
  return `${v >= 0 ? '+' : ''}${fmt(v, 0)} µs`
}

/** The bars of `entries` ({ key: { name, ... } }) in the order of `keys`, those present. */
function barsOf (entries, keys, bar) {
  return keys.filter((k) => entries && entries[k]).map((k) => ({ kind: KIND[k], ...bar(entries[k], k) }))
}

/** Chart (a), or null without either benchmark's summary. `e2e`, `wsEcho`: their `summary`. */
function setupCostChart ({ e2e, wsEcho, note }) {
  const groups = []
  if (e2e && e2e.added) {
    groups.push({
      title: 'HTTP upgrade, connect → first byte (bench/e2e.js), concurrency 1',
      bars: barsOf(e2e.added, ['fastify', 'handoff', 'childsend'], (x) => ({ label: x.name, value: x.p50, text: signedUs(x.p50) }))
    })
  }
  if (wsEcho && wsEcho.open) {
    groups.push({
      title: 'WebSocket open, new WebSocket → \'open\' (bench/ws-echo.js), one at a time',
      bars: barsOf(wsEcho.open, ['fastify', 'handoff', 'proxy', 'direct2'], (x) => ({ label: x.name, value: x.added, text: signedUs(x.added) }))
    })
  }
  if (groups.length === 0) return null
  return barChart({
    title: 'Connection setup: p50 added over a web app answering itself (lower is better)',
    subtitle: ['Each figure: the median over rounds (passes) of the difference with direct within the round; routes take turns.', ...(note ? [note] : [])],
    groups
  })
}

/** Chart (b), or null without bench/ws-echo.js's summary. */
function echoRateChart ({ wsEcho, note }) {
  if (!wsEcho || !wsEcho.echo) return null
  const groups = Object.entries(wsEcho.echo).map(([size, routes]) => ({
    title: `${size} messages, messages/s (× direct)`,
    bars: barsOf(routes, ['direct', 'fastify', 'handoff', 'proxy', 'direct2'], (x, k) => ({
      label: x.name,
      value: x.rate,
      text: k === 'direct' ? fmt(x.rate, 0) : `${fmt(x.rate, 0)} (${fmtRatio(x.vsDirect)})`
    }))
  }))
  return barChart({
    title: 'WebSocket echo after the handoff (higher is better)',
    subtitle: ['One sibling serves every route; closed loop, medians over rounds; × direct: median of each round\'s ratio.', ...(note ? [note] : [])],
    groups
  })
}

function readSummary (file) {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')).summary ?? null } catch { return null }
}

/**
 * Writes the charts that the results in `jsonDir` allow into `outDir`;
 * returns [{ file, title }] of those written. `note`: a line under the title
 * (the machine, its load).
 */
function writeCharts (jsonDir, outDir, { note } = {}) {
  const e2e = readSummary(path.join(jsonDir, 'e2e.json'))
  const wsEcho = readSummary(path.join(jsonDir, 'ws-echo.json'))
  const written = []
  for (const [name, title, svg] of [
    ['setup-cost.svg', 'Connection setup cost', setupCostChart({ e2e, wsEcho, note })],
    ['echo-rate.svg', 'WebSocket echo rate after the handoff', echoRateChart({ wsEcho, note })]
  ]) {
    if (svg === null) continue
    fs.mkdirSync(outDir, { recursive: true })
    const file = path.join(outDir, name)
    fs.writeFileSync(file, svg)
    written.push({ file, title })
  }
  return written
}

module.exports = { setupCostChart, echoRateChart, writeCharts }
