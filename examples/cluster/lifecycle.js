'use strict'
// A sibling's life inside its host: it says 'ready' to host.js (which forked
// it) and runs `close` once, on SIGTERM, Ctrl-C, when host.js went away, or
// when the returned stop() is called (retired after a restart).
const tell = (message) => { if (process.connected) process.send(message) }

function serveUntilStopped (close) {
  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await close()
      if (process.connected) process.disconnect()
    })()
    return stopping
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop)
  tell('ready')
  return stop
}

module.exports = { serveUntilStopped, tell }
