'use strict'
// A sibling's life inside its host: it says 'ready' to host.js (which forked
// it) and runs `close` once, on SIGTERM, Ctrl-C, or when host.js went away.
function serveUntilStopped (close) {
  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await close()
      if (process.connected) process.disconnect()
    })()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  if (process.send) process.send('ready')
}

module.exports = { serveUntilStopped }
