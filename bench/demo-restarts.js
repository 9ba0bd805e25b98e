'use strict'
// Refused connections across the demo's restarts (issue 13): starts
// `npm run demo` of the given checkout on a free port, sends it SIGHUP five
// times (each time waiting for "restart #N done"), while one client makes a
// request on a new connection every ~3 ms; prints each restart line and the
// outcome counts (ok, ECONNREFUSED, ECONNRESET, HTTP status).
//
//   node bench/demo-restarts.js [checkout, default this one]
const { spawn } = require('child_process')
const http = require('http')
const repo = process.argv[2] ?? require('node:path').join(__dirname, '..')
const demo = spawn(process.execPath, [`${repo}/examples/demo/run.js`, '--port', '0'], { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] })
let out = ''
const waiters = []
demo.stdout.on('data', (d) => { out += d; for (const w of waiters.slice()) w() })
const waitFor = (re) => new Promise((resolve) => { const check = () => { const m = re.exec(out); if (m) { waiters.splice(waiters.indexOf(check), 1); resolve(m) } }; waiters.push(check); check() })
const get = (port) => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `HTTP ${res.statusCode}`)) })
  req.on('error', (err) => resolve(err.code))
})
;(async () => {
  const [, url] = await waitFor(/\[run\] ready: (http:\/\/\S+)/)
  const port = Number(new URL(url).port)
  let stop = false
  const counts = {}
  const loop = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set by the restart loop below
    while (!stop) {
      const r = await get(port)
      counts[r] = (counts[r] ?? 0) + 1
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
  })()
  for (let i = 1; i <= 5; i++) {
    demo.kill('SIGHUP')
    const [line] = await waitFor(new RegExp(`restart #${i} done in \\d+ ms`))
    console.log(line)
  }
  stop = true; await loop
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  console.log(JSON.stringify({ total, ...counts, refused: counts.ECONNREFUSED ?? 0 }))
  demo.kill('SIGINT')
})()
