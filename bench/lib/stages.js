'use strict'
// The stage recorder of bench/stages.js, one per process: timestamps
// (process.hrtime.bigint(), CLOCK_MONOTONIC, the same clock in every process
// of the host) of what happens to each connection, keyed by the client's TCP
// port, which every process knows (the client as its local port, the servers
// as remotePort, the sibling from the HANDOFF's metadata).
//
// Sources: fastify-handoff's own stage channel (plugin/trace.ts), Node's
// 'net.server.socket' channel (a listening server accepted a connection), and
// marks the benchmark's processes set themselves (request parsed, handler ran,
// first byte written, and every stage of the child.send path).
const dc = require('node:diagnostics_channel')

const STAGE_CHANNEL = 'fastify-handoff:stage'
/** Records kept per process between two take()s; beyond, new ones are dropped (bounded memory). */
const LIMIT = 400000

function now () { return Number(process.hrtime.bigint()) }

function createRecorder () {
  let ports = []
  let stages = []
  let times = []
  let lastWoken = 0
  const push = (stage, port, t) => {
    if (typeof port !== 'number' || ports.length >= LIMIT) return
    ports.push(port)
    stages.push(stage)
    times.push(t)
  }
  /** `what`: a socket (its remotePort, or localPort with `local`) or a port. The time is taken first. */
  const mark = (stage, what, local = false) => {
    const t = now()
    push(stage, typeof what === 'number' ? what : local ? what.localPort : what.remotePort, t)
  }
  dc.subscribe(STAGE_CHANNEL, (m) => {
    const t = now()
    if (m.stage === 'woken') { lastWoken = t; return }
    // The poll event that read the frame: before it is cut, nobody knows whose it is.
    if (m.stage === 'decoded') push('woken', m.port, lastWoken)
    else if (m.stage === 'verdict') push('ack-woken', m.port, lastWoken)
    push(m.stage, m.port, t)
  })
  dc.subscribe('net.server.socket', (m) => mark('accept', m.socket))
  return {
    mark,
    /** A mark taken earlier (a time from now()), once its port is known. */
    markAt: push,
    /** Everything recorded since the last take(), as parallel arrays; clears. */
    take () {
      const out = { ports, stages, times }
      ports = []
      stages = []
      times = []
      return out
    }
  }
}

let recorder = null
/** The process's recorder, created (and subscribed) on first use only. */
function stagesRecorder () {
  if (recorder === null) recorder = createRecorder()
  return recorder
}

module.exports = { stagesRecorder, now }
