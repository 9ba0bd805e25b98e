'use strict'
// What every example's web.js does around its one point (the handoff): a
// port from --port or PORT, a private directory for the Unix sockets, sibling
// processes that must say they are ready, and one stop (Ctrl-C, SIGTERM, or a
// failed start) that closes the web app first, then the siblings, then
// removes the directory.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** A numeric flag `--name N`, else `fallback`. */
function flag (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return Number(i > 0 ? process.argv[i + 1] : fallback)
}

/**
 * createExample('sse', 3002) → { port, dir, sibling(), run(), stopping }.
 * `port` is --port, else env PORT, else the default (0: any free port).
 */
function createExample (name, defaultPort) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `handoff-${name}-`))
  const siblings = []
  let closeApp = async () => {}
  let stopping = null

  function stop (code) {
    stopping ??= (async () => {
      await closeApp()
      for (const s of siblings) s.proc.kill('SIGTERM')
      for (const s of siblings) {
        const siblingCode = await s.exited
        if (siblingCode !== 0 && siblingCode !== 'SIGTERM') { // SIGTERM: killed while still starting
          console.error(`[web ${process.pid}] ${s.name} exited with ${siblingCode}`)
          code = 1
        }
      }
      fs.rmSync(dir, { recursive: true, force: true })
      console.log(`[web ${process.pid}] stopped`)
      process.exitCode = code
    })()
  }
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))

  return {
    port: flag('port', process.env.PORT ?? defaultPort),
    dir,
    get stopping () { return stopping !== null },
    /**
     * Tracks a sibling process. `ready` resolves when it says so: by default
     * its first IPC message; `waitReady(proc)` for another signal.
     */
    sibling (proc, { name: label = 'the sibling', waitReady = (p) => new Promise((resolve) => p.once('message', resolve)) } = {}) {
      const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)))
      const ready = Promise.race([
        waitReady(proc),
        exited.then(() => { throw new Error(`${label} did not start`) })
      ])
      ready.catch(() => {}) // reported through run()'s start, which awaits it
      const s = { name: label, proc, exited, ready }
      siblings.push(s)
      return s
    },
    /** Runs `start`; `close` (the web app's) runs first on stop. */
    run (start, close) {
      closeApp = close
      start().catch((err) => {
        if (stopping === null) console.error(err) // else: stopped while starting
        stop(1)
      })
    }
  }
}

module.exports = { createExample, flag }
