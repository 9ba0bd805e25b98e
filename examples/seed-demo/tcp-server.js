'use strict'
// tcp-server: accepts clients on TCP and passes each accepted connection's
// descriptor to uds-server over the Unix socket (Go format by default:
// one byte + one descriptor; PROTOCOL.md with --protocol full). Then it closes
// its own copy WITHOUT ending the connection: the handle is closed (libuv
// uv_close, no shutdown(2), no FIN) and the connection lives on in uds-server.
//
//   node examples/seed-demo/tcp-server.js [--port 8888] [--host 127.0.0.1] [--uds PATH] [--count N] [--protocol seed|full]
const net = require('node:net')
const { library, parseFlags, logger, describeError } = require('./common.js')
const { Session } = require('./full.js')

const flags = parseFlags()
const { lib, seed } = library()
const { connectUnix, protocol: P } = lib
const { log, error } = logger('tcp-server')

const VERDICT_TIMEOUT_MS = P.DEFAULT_VERDICT_TIMEOUT_MS
/** PROTOCOL.md §7.7: how long after a HANDOFF's deadline the sender still waits for its verdict. */
const GRACE_MS = 1000

let server = null
let link = null // { pass(socket, fd) → Promise<'passed' | 'kept'>, close() }
let accepted = 0
let outcomes = 0 // passes whose outcome is known (sent, ACCEPT, REJECT, ours again)
let settled = 0
let failures = 0

/**
 * Detaches the accepted socket from Node: it never read (pauseOnConnect), and
 * its handle is stopped so libuv reads nothing more. Returns its descriptor.
 */
function detach (socket) {
  socket.pause()
  socket._handle.reading = false
  socket._handle.readStop()
  return socket._handle.fd
}

/** Drops this process's reference only: closing the handle is close(2), never shutdown(2). */
function closeOwnCopy (socket, fd) {
  return new Promise((resolve) => {
    socket.once('close', () => {
      log(`closed its copy of fd=${fd}`)
      resolve()
    })
    socket.destroy()
  })
}

async function onConnection (socket) {
  accepted++
  if (accepted >= flags.count) server.close() // stop accepting; the passes go on
  socket.on('error', (err) => error(`client socket: ${describeError(err)}`))
  const fd = detach(socket)
  log(`passing fd=${fd}`)
  let outcome
  try {
    outcome = await link.pass(socket, fd)
  } catch (err) {
    outcome = 'kept'
    error(`passing fd=${fd}: ${describeError(err)}`)
  }
  outcomes++
  if (outcome === 'passed') {
    await closeOwnCopy(socket, fd)
  } else {
    failures++
    // Still ours: tell the client and end it properly.
    socket.end('sorry, no receiver took this connection\n', () => socket.destroy())
  }
  settled++
  if (settled >= flags.count) done()
}

function done () {
  if (link !== null) link.close()
  link = null
  if (server !== null) server.close()
  server = null
  log(`handled ${settled} connection(s), exiting`)
  process.exitCode = failures > 0 ? 1 : 0
}

function onLinkLost (why) {
  if (link === null) return
  if (outcomes >= flags.count) {
    // Every connection has its outcome: nothing more to send on it.
    log(`uds-server closed the channel (${why})`)
    link = null
    return
  }
  error(`lost uds-server: ${why}`)
  link = null
  failures++
  process.exitCode = 1
  if (server !== null) server.close()
  server = null
}

// --- the Go format: Send(fd) = one byte + one descriptor; no answer comes back.
async function seedLink () {
  const channel = seed.createSeedChannel(await connectUnix(flags.uds))
  channel.on('error', (err) => onLinkLost(describeError(err)))
  channel.on('close', () => onLinkLost('the channel closed'))
  channel.on('message', () => {}) // uds-server never writes in this format
  return {
    // Once sendmsg succeeded the receiver has its copy: ownership moves (PROTOCOL.md, Appendix A).
    pass: async (socket, fd) => { await seed.sendFd(channel, fd); return 'passed' },
    close: () => channel.close()
  }
}

// --- the full protocol: HELLO exchange, then HANDOFF → ACCEPT / REJECT per connection.
// PROTOCOL.md §7: ACCEPT read → the receiver's (close our copy); REJECT, the
// channel's end, or no verdict by deadline + grace → ours again.
async function fullLink () {
  const session = new Session(await connectUnix(flags.uds), 'sender', 'seed-demo tcp-server')
  const inFlight = new Map() // id → settle(verdict | 'ended' | 'expired')
  let nextId = 1
  // After a deadline passed without a verdict, no further HANDOFF until the receiver writes again (§7.7).
  let stalled = false
  session.on('failed', (err) => onLinkLost(describeError(err)))
  session.on('close', () => {
    // §7.6: everything the receiver wrote has been read; what is still in flight was not taken.
    for (const settle of inFlight.values()) settle('ended')
    onLinkLost('the channel closed')
  })
  session.on('message', (msg) => {
    stalled = false
    if (msg.type === P.FrameType.Accept || msg.type === P.FrameType.Reject) {
      const settle = inFlight.get(msg.id)
      if (settle !== undefined) settle(msg)
      else if (msg.type === P.FrameType.Accept) error(`late ACCEPT ${msg.id} (after its deadline): the receiver broke PROTOCOL.md §7`)
      // a late REJECT: ignored
    } else if (msg.type === P.FrameType.Goodbye) {
      log(`GOODBYE from uds-server (${msg.body.reason})`)
    }
  })
  const peer = await new Promise((resolve, reject) => {
    session.once('ready', (hello, version) => {
      log(`HELLO from ${hello.name ?? 'a receiver'} (pid ${hello.pid}), protocol version ${version}`)
      resolve(hello)
    })
    session.once('failed', reject)
  })
  return {
    pass: async (socket, fd) => {
      if (stalled) throw new Error('the receiver has not answered since a handoff expired; not sending more')
      const id = nextId
      nextId = nextId === 0xFFFFFFFF ? 1 : nextId + 1
      const sentAt = Date.now()
      const meta = {
        kind: 'raw',
        keepAlive: false,
        sentAt,
        deadline: sentAt + VERDICT_TIMEOUT_MS,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        localAddress: socket.localAddress,
        localPort: socket.localPort,
        family: socket.remoteFamily,
        context: { demo: 'seed-demo', connection: accepted }
      }
      const frame = P.encodeHandoff(id, { meta, head: Buffer.alloc(0), buffered: Buffer.alloc(0) }, peer.maxFrameSize)
      const verdict = new Promise((resolve) => {
        const timer = setTimeout(() => settle('expired'), meta.deadline + GRACE_MS - Date.now())
        function settle (v) {
          clearTimeout(timer)
          inFlight.delete(id)
          resolve(v)
        }
        inFlight.set(id, settle)
      })
      try {
        await session.send(frame, [fd])
      } catch (err) {
        inFlight.get(id)?.('ended')
        throw err
      }
      log(`HANDOFF ${id} sent, waiting for the verdict`)
      const v = await verdict
      if (v === 'ended') throw new Error(`HANDOFF ${id}: the channel ended before a verdict; the connection is ours again`)
      if (v === 'expired') {
        stalled = true
        throw new Error(`HANDOFF ${id}: no verdict by its deadline + ${GRACE_MS} ms; the connection is ours again`)
      }
      if (v.type === P.FrameType.Accept) {
        log(`ACCEPT ${id} (receiver serves ${v.body.live})`)
        return 'passed'
      }
      error(`REJECT ${id}: ${v.body.reason} ${v.body.message}`)
      return 'kept'
    },
    close: () => session.goodbye('shutdown')
  }
}

async function main () {
  link = flags.protocol === 'full' ? await fullLink() : await seedLink()
  server = net.createServer({ pauseOnConnect: true }, (socket) => {
    onConnection(socket).catch((err) => error(describeError(err)))
  })
  server.on('error', (err) => {
    error(`listen: ${describeError(err)}`)
    process.exitCode = 1
    done()
  })
  server.listen(flags.port, flags.host, () => {
    const { address, port } = server.address()
    log(`listening on ${address}:${port} (${flags.protocol === 'full' ? 'full protocol' : 'seed format'}, uds ${flags.uds}, ${flags.count} connection(s))`)
  })
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}, exiting`)
    process.exit(1)
  })
}

main().catch((err) => {
  error(describeError(err))
  process.exit(1)
})
