'use strict'
// tcp-client: connects to tcp-server, reads the "hello" line (written by
// whoever holds the connection now: uds-server), answers "HELLO" and waits for
// the server to close. One connection after the other, --count times.
//
//   node examples/seed-demo/tcp-client.js [--port 8888] [--host 127.0.0.1] [--count N]
// (--uds and --protocol are accepted and ignored: the client speaks plain TCP.)
const net = require('node:net')
const { parseFlags, logger, describeError, readLine } = require('./common.js')

const flags = parseFlags()
const { log, error } = logger('tcp-client')

function once (n) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: flags.port, host: flags.host })
    socket.on('error', reject)
    socket.on('connect', async () => {
      try {
        const closed = new Promise((resolve) => socket.once('close', resolve))
        const line = await readLine(socket)
        log(`read: ${line}`)
        if (line !== 'hello') throw new Error(`expected hello, got ${JSON.stringify(line)}`)
        socket.write('HELLO\n')
        socket.resume() // see the server's FIN
        await closed
        log(`connection ${n} closed by the server`)
        resolve()
      } catch (err) {
        socket.destroy()
        reject(err)
      }
    })
  })
}

async function main () {
  for (let n = 1; n <= flags.count; n++) await once(n)
}

main().catch((err) => {
  error(describeError(err))
  process.exitCode = 1
})
