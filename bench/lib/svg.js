'use strict'
// Horizontal bar charts as hand-written SVG, no dependency: what
// bench/lib/charts.js draws from a run's results. Written for GitHub's
// Markdown (an <img> of the file): no script, no external font or style, an
// opaque background so dark mode does not swallow the black text, and every
// figure printed beside its bar (the chart never asks the reader to estimate).

const FONT = 'system-ui, -apple-system, \'Segoe UI\', Helvetica, Arial, sans-serif'
const COLOURS = { ours: '#2f6fdf', alt: '#e07b39', base: '#8a8f98' }
// Layout, px. Text widths are estimated (no font metrics in Node): 7 px a
// character at 13 px is generous for the sans-serif fonts above.
const CHAR = 7
const BAR = 18
const GAP = 8
const PAD = 16
const TITLE = 24
const LINE = 18
const GROUP_TITLE = 24
const VALUE_ROOM = 150

function escape (s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;' })[c])
}

function round (x) { return Math.round(x * 10) / 10 }

/**
 * A horizontal bar chart. `groups`: [{ title?, bars: [{ label, value, text?, kind? }] }];
 * `value` a number (NaN/null: drawn as "n/a", no bar), `text` what is printed
 * beside the bar (default: the value), `kind` 'ours' | 'alt' | 'base' (the
 * colour: fastify-handoff, what users would pick instead, the baseline).
 * One scale for every group, from 0 (or the most negative value: a bar left of
 * the zero line) to the largest value. Returns the SVG document as a string.
 */
function barChart ({ title, subtitle = [], groups, width = 760, legend = true }) {
  const subs = Array.isArray(subtitle) ? subtitle : [subtitle]
  const bars = groups.flatMap((g) => g.bars)
  const finite = bars.map((b) => b.value).filter((v) => typeof v === 'number' && Number.isFinite(v))
  const lo = Math.min(0, ...finite)
  const hi = Math.max(0, ...finite)
  const span = hi - lo || 1
  const labelW = Math.min(320, Math.max(80, ...bars.map((b) => String(b.label).length * CHAR))) + 12
  const x0 = PAD + labelW
  const plotW = Math.max(100, width - x0 - VALUE_ROOM - PAD)
  const xOf = (v) => x0 + (v - lo) / span * plotW
  const zero = xOf(0)

  const out = []
  let y = PAD + TITLE - 6
  out.push(`<text x="${PAD}" y="${y}" font-size="16" font-weight="600">${escape(title)}</text>`)
  for (const s of subs) {
    y += LINE
    out.push(`<text x="${PAD}" y="${y}" font-size="12" fill="#555">${escape(s)}</text>`)
  }
  y += GAP
  for (const g of groups) {
    if (g.title) {
      y += GROUP_TITLE
      out.push(`<text class="group" x="${PAD}" y="${y - 7}" font-size="13" font-weight="600">${escape(g.title)}</text>`)
    }
    const top = y
    for (const b of g.bars) {
      const mid = y + BAR / 2
      const ok = typeof b.value === 'number' && Number.isFinite(b.value)
      const text = b.text ?? (ok ? String(b.value) : 'n/a')
      out.push(`<text class="label" x="${x0 - 8}" y="${round(mid + 4.5)}" font-size="13" text-anchor="end">${escape(b.label)}</text>`)
      let end = zero
      if (ok) {
        const a = xOf(Math.min(0, b.value))
        const w = Math.abs(xOf(b.value) - zero)
        end = b.value < 0 ? zero : a + w
        const fill = COLOURS[b.kind] ?? COLOURS.ours
        out.push(`<rect class="bar" data-label="${escape(b.label)}" data-value="${b.value}" x="${round(a)}" y="${y}" width="${round(w)}" height="${BAR}" fill="${fill}" rx="2"><title>${escape(`${b.label}: ${text}`)}</title></rect>`)
      }
      out.push(`<text class="value" x="${round(end + 6)}" y="${round(mid + 4.5)}" font-size="12">${escape(text)}</text>`)
      y += BAR + GAP
    }
    // The zero line, along the group's bars, when some bar goes left of it.
    if (lo < 0 && g.bars.length > 0) out.push(`<line x1="${round(zero)}" y1="${top - 2}" x2="${round(zero)}" y2="${y - GAP + 2}" stroke="#333" stroke-width="1"/>`)
  }
  if (legend) {
    y += LINE - 4
    let x = PAD
    for (const [kind, what] of [['ours', 'fastify-handoff'], ['alt', 'the alternative'], ['base', 'baseline (direct)']]) {
      if (!bars.some((b) => (b.kind ?? 'ours') === kind)) continue
      out.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLOURS[kind]}" rx="2"/>`)
      out.push(`<text x="${x + 18}" y="${y}" font-size="12">${escape(what)}</text>`)
      x += 18 + what.length * CHAR + 24
    }
  }
  const height = y + PAD
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escape(FONT)}" role="img" aria-label="${escape(title)}">`,
    `<title>${escape(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    ''
  ].join('\n')
}

module.exports = { barChart, escape }
