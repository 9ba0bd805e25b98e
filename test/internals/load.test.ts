// plugin/internals.ts is the one place that reaches Node's private internals.
// When one is missing (a Node release renamed it), the package must fail at
// load with one ERR_HANDOFF_NODE_INTERNAL naming it and the Node version, and
// an internal only a live connection has must fail the same way at its use.
import t from 'tap'
import { execFile } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { hasHandle, parserState } from '../../plugin/internals.js'

const DIST = path.join(__dirname, '..', '..', 'dist')

interface Loaded { loaded: boolean, code?: string, message?: string, checked?: string[] }

/** Loads the built package in a fresh Node after `breakIt` ran there. */
function loadAfter (breakIt: string): Promise<Loaded> {
  const script = `${breakIt}
    let out
    try {
      require(${JSON.stringify(path.join(DIST, 'index.js'))})
      out = { loaded: true, checked: require(${JSON.stringify(path.join(DIST, 'internals.js'))}).internalsChecked }
    } catch (err) {
      out = { loaded: false, code: err.code, message: err.message }
    }
    process.stdout.write(JSON.stringify(out))`
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`the child failed: ${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout) as Loaded)
    })
  })
}

t.test('on this Node every internal is there, and each was checked at load', async (t) => {
  const out = await loadAfter('')
  t.equal(out.loaded, true, 'the package loads')
  t.ok((out.checked ?? []).length >= 10, 'the internals were checked at load')
  t.ok(out.checked?.includes('_http_server.setupConnectionsTracking'))
  t.ok(out.checked?.includes('net.Server#_pipeName (read by address())'), 'the name a Unix listener from a descriptor is given (takeover)')
})

const broken: Array<[string, string, string]> = [
  ['a module export', "delete require('_http_server').setupConnectionsTracking", '_http_server.setupConnectionsTracking'],
  ['a prototype member of the HTTP parser', "delete require('_http_common').HTTPParser.prototype.unconsume",
    'HTTPParser.prototype.unconsume'],
  ['a function of the HTTP parser pool', "delete require('_http_common').freeParser", '_http_common.freeParser']
]

for (const [what, breakIt, name] of broken) {
  t.test(`without ${what}, loading fails with one error naming it and the Node version`, async (t) => {
    const out = await loadAfter(breakIt)
    t.equal(out.loaded, false, 'the package does not load')
    t.equal(out.code, 'ERR_HANDOFF_NODE_INTERNAL')
    t.match(out.message, name, 'names the internal')
    t.match(out.message, process.version, 'names the Node version')
  })
}

t.test('an internal only a live connection has is checked at its use, with the same error', async (t) => {
  checkFdLeaks(t)
  const server = http.createServer()
  let seen: unknown
  let checked = false
  // After node:http's own 'connection' listener: the parser is attached.
  server.on('connection', (socket: net.Socket) => {
    t.ok(parserState(socket) !== null, 'node:http\'s parser, as this Node has it')
    t.ok(hasHandle(socket))
    // What a Node that renamed its listener would look like.
    for (const listener of socket.listeners('data') as Array<(...args: unknown[]) => void>) {
      if (listener.name === 'bound socketOnData') socket.removeListener('data', listener)
    }
    try {
      parserState(socket)
    } catch (err) {
      seen = err
    }
    checked = true
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  await new Promise((resolve) => client.once('close', resolve))
  await new Promise((resolve) => server.close(resolve))
  t.ok(checked, 'the server saw the connection')
  t.match(seen, { code: 'ERR_HANDOFF_NODE_INTERNAL', message: /'bound socketOnData' listener/ })
  t.match((seen as Error).message, process.version)
})
