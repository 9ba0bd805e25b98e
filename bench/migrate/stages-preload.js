'use strict'
// Loaded with --require into both siblings by `bench/migrate.js --stages`
// (or --profile): records every stage of the move (plugin/trace.ts, and the
// fixture's 'first-message') per client port, and the event loop's delay,
// and hands both to the driver on { cmd: 'stages' } → { reply: 'stages',
// ports, stages, times, loop: { p50, p99, max } (ms, since the last
// 'stages') }. With MIGRATE_PROFILE_DIR: { cmd: 'profile' } starts the CPU
// profiler, and the next 'stages' writes the profile there (only the move's
// window, not the connections' setup).
const fs = require('node:fs')
const path = require('node:path')
const inspector = require('node:inspector')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const { stagesRecorder } = require('../lib/stages.js')

const recorder = stagesRecorder()
const loop = monitorEventLoopDelay({ resolution: 2 })
loop.enable()
const profileDir = process.env.MIGRATE_PROFILE_DIR
let session = null

process.on('message', (msg) => {
  if (msg === null || typeof msg !== 'object') return
  if (msg.cmd === 'profile' && profileDir !== undefined) {
    session = new inspector.Session()
    session.connect()
    session.post('Profiler.enable', () => session.post('Profiler.start', () => process.send({ reply: 'profile' })))
    return
  }
  if (msg.cmd !== 'stages') return
  const ms = (ns) => ns / 1e6
  const delay = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) }
  loop.reset()
  const answer = () => process.send({ reply: 'stages', ...recorder.take(), loop: delay })
  if (session === null) return answer()
  const s = session
  session = null
  s.post('Profiler.stop', (err, result) => {
    if (!err) fs.writeFileSync(path.join(profileDir, `${msg.name ?? 'sibling'}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    s.disconnect()
    answer()
  })
})
