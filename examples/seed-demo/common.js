'use strict'
// Shared by the seed-demo programs: flags, log lines. The library (the
// native addon and dist/) is loaded lazily: tcp-client does not need it.
const { parseArgs } = require('node:util')

let loaded = null
function library () {
  if (loaded === null) {
    // The channel and the codec are public (by the package's name); the raw
    // binding (peer credentials, what a descriptor is) and the seed format
    // are not: this demo of the seed format takes them from dist/ by path.
    const lib = {
      ...require('fastify-handoff/channel'),
      ...require('fastify-handoff/errors'),
      protocol: require('fastify-handoff/protocol'),
      native: require('../../dist/native.js').binding
    }
    const seed = require('../../dist/seed/index.js')
    loaded = { lib, seed }
  }
  return loaded
}

const DEFAULT_UDS = '/tmp/fastify-handoff-seed.sock'

const USAGE = `flags:
  --port N        TCP port (default 8888; 0 picks a free one, tcp-server prints it)
  --host ADDR     TCP address (default 127.0.0.1)
  --uds PATH      Unix socket between tcp-server and uds-server (default ${DEFAULT_UDS})
  --count N       connections to handle, then exit (default 1)
  --protocol P    "seed" (default: the Go design's one byte + one descriptor) or "full" (PROTOCOL.md)`

function parseFlags (argv = process.argv.slice(2)) {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '8888' },
        host: { type: 'string', default: '127.0.0.1' },
        uds: { type: 'string', default: DEFAULT_UDS },
        count: { type: 'string', default: '1' },
        protocol: { type: 'string', default: 'seed' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (err) {
    usage(err.message)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const port = Number(values.port)
  const count = Number(values.count)
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be 0..65535, got ${values.port}`)
  if (!Number.isInteger(count) || count < 1) usage(`--count must be an integer >= 1, got ${values.count}`)
  if (values.protocol !== 'seed' && values.protocol !== 'full') usage(`--protocol must be "seed" or "full", got ${values.protocol}`)
  return { port, host: values.host, uds: values.uds, count, protocol: values.protocol }
}

function usage (message) {
  console.error(`${message}\n${USAGE}`)
  process.exit(2)
}

/** Logger for one program: `[name] message` on stdout, errors on stderr. */
function logger (name) {
  return {
    log: (message) => console.log(`[${name}] ${message}`),
    error: (message) => console.error(`[${name}] error: ${message}`)
  }
}

function describeError (err) {
  return err && err.code ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err)
}

/** Resolves with the first line (without its newline) read from `socket`; rejects if it ends first. */
function readLine (socket) {
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk) => {
      text += chunk.toString('utf8')
      const nl = text.indexOf('\n')
      if (nl !== -1) {
        cleanup()
        resolve(text.slice(0, nl))
      }
    }
    const onEnd = () => { cleanup(); reject(new Error(`connection ended before a line (got ${JSON.stringify(text)})`)) }
    const onError = (err) => { cleanup(); reject(err) }
    function cleanup () {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('error', onError)
  })
}

module.exports = { library, parseFlags, logger, describeError, readLine, DEFAULT_UDS, USAGE }
