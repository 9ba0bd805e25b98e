'use strict'
// Progress of `npm run bench`, on stderr only (stdout carries the Markdown
// tables, which people redirect into a file).
//   live on a terminal (stderr a TTY): one status line redrawn in place
//       (benchmark i of n, its round, seconds against its bound)
//   --progress, stderr not a terminal: a line per round as well
//   otherwise: a line when each benchmark starts and ends
// A benchmark's rounds come from its own process: bench/lib/common.js's
// repeatWithin prints a marker line on stderr when BENCH_PROGRESS is set,
// which bench/run.js hands to round() and removes from what it passes on.

const MARKER = '@@bench-progress '

/** The marker line a benchmark prints after a round (`done` of `total`). */
function roundLine (done, total) { return `${MARKER}${done}/${total}\n` }

/** { done, total } of a marker line, or null for any other line. */
function parseRoundLine (line) {
  if (!line.startsWith(MARKER)) return null
  const m = /^(\d+)\/(\d+)$/.exec(line.slice(MARKER.length).trim())
  return m ? { done: Number(m[1]), total: Number(m[2]) } : null
}

/**
 * `stream`: where to write (stderr); `live`: redraw a status line in place
 * (a terminal); `verbose`: a line per round (--progress without a terminal).
 */
function createProgress ({ stream, live = false, verbose = false, total }) {
  let cur = null // { index, name, boundMs, started, round }
  let shown = false
  let timer = null
  // Output passed on that stopped mid-line: no status line until it ends the line.
  let midLine = false
  const status = () => {
    const secs = Math.floor((Date.now() - cur.started) / 1000)
    const round = cur.round ? `, ${cur.round.done}/${cur.round.total} rounds done` : ''
    return `[${cur.index}/${total}] ${cur.name}${round}, ${secs} s (bound ${cur.boundMs / 1000} s)`
  }
  const clear = () => { if (shown) { stream.write('\r\x1b[2K'); shown = false } }
  const draw = () => { if (cur !== null && !midLine) { stream.write(`\r\x1b[2K${status()}`); shown = true } }
  return {
    start (index, name, boundMs) {
      cur = { index, name, boundMs, started: Date.now(), round: null }
      if (live) {
        draw()
        timer = setInterval(draw, 1000)
        timer.unref()
      } else {
        stream.write(`[${index}/${total}] ${name}: started\n`)
      }
    },
    round (done, roundsTotal) {
      if (cur === null) return
      cur.round = { done, total: roundsTotal }
      if (live) draw()
      else if (verbose) stream.write(`[${cur.index}/${total}] ${cur.name}: round ${done}/${roundsTotal} done\n`)
    },
    /**
     * The benchmark's own output (its tables: `to` stdout; anything else on its
     * stderr) passed on without tearing the status line: on a terminal both
     * streams share the screen, so the line is cleared first and redrawn after.
     */
    passOn (text, to = stream) {
      clear()
      to.write(text)
      if (text.length > 0) midLine = !text.endsWith('\n')
      if (live && cur !== null) draw()
    },
    end (status, seconds) {
      if (cur === null) return
      if (timer !== null) { clearInterval(timer); timer = null }
      clear()
      stream.write(`[${cur.index}/${total}] ${cur.name}: ${status}, ${seconds.toFixed(1)} s\n`)
      cur = null
    }
  }
}

/**
 * Splits a child's stderr into lines: marker lines go to `onRound`, the rest
 * to `onText` (whole lines; a last partial line on flush()).
 */
function lineSplitter (onRound, onText) {
  let buf = ''
  return {
    push (chunk) {
      buf += chunk
      let nl
      let text = ''
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl + 1)
        buf = buf.slice(nl + 1)
        const r = parseRoundLine(line)
        if (r !== null) {
          if (text) { onText(text); text = '' }
          onRound(r.done, r.total)
        } else {
          text += line
        }
      }
      if (text) onText(text)
    },
    flush () { if (buf) { onText(buf); buf = '' } }
  }
}

module.exports = { createProgress, lineSplitter, roundLine, parseRoundLine }
