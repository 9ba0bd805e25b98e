'use strict'
// uds-server: listens on a Unix socket, receives client connections' descriptors
// (Go format by default, PROTOCOL.md with --protocol full), rebuilds each one,
// writes "hello\n", reads the client's answer ("HELLO") and closes it.
//
//   node examples/seed-demo/uds-server.js [--uds PATH] [--count N] [--protocol seed|full]
const net = require('node:net')
const { library, parseFlags, logger, describeError, readLine } = require('./common.js')
const { Session, tcpStreamProblem } = require('./full.js')

const flags = parseFlags()
const { lib, seed } = library()
const { listenUnix, native, closeFds } = lib
const { log, error } = logger('uds-server')

let served = 0
let live = 0
let failures = 0
let listener = null
const peers = new Set()

function finish () {
  if (listener !== null) listener.close()
  listener = null
  for (const peer of peers) peer.close()
  peers.clear()
  log(`served ${served} connection(s), exiting`)
  process.exitCode = failures > 0 ? 1 : 0
}

/** The only peer we take: a process of our own user (the socket file is 0600 too). */
function trusted (channelFd) {
  const { uid, pid } = native.peerCredentials(channelFd)
  if (uid !== process.getuid()) return `peer pid ${pid} runs as uid ${uid}, not ${process.getuid()}`
  return null
}

/** Serves a rebuilt client connection: hello → HELLO → close. `buffered` goes in front of what it reads. */
async function serve (fd, buffered) {
  const socket = new net.Socket({ fd, readable: true, writable: true })
  if (buffered !== undefined && buffered.length > 0) socket.unshift(buffered)
  log(`client ${socket.remoteAddress}:${socket.remotePort} on fd=${fd}`)
  live++
  const closed = new Promise((resolve) => socket.once('close', resolve))
  try {
    socket.write('hello\n')
    const line = await readLine(socket)
    log(`read: ${line}`)
    if (line !== 'HELLO') throw new Error(`expected HELLO, got ${JSON.stringify(line)}`)
  } catch (err) {
    failures++
    error(`connection on fd=${fd}: ${describeError(err)}`)
  }
  socket.end()
  await closed
  live--
  served++
  if (served >= flags.count) finish()
}

// --- the Go format: one byte + one descriptor a message ----------------------

const BAD_MESSAGE_CODES = new Set(['ERR_HANDOFF_FD_MISMATCH', 'ERR_HANDOFF_ORPHAN_FDS', 'ERR_HANDOFF_FDS_TRUNCATED'])

async function seedPeer (fd) {
  const rx = new seed.FdReceiver(seed.createSeedChannel(fd))
  peers.add(rx)
  for (;;) {
    let received
    try {
      received = await rx.recv()
    } catch (err) {
      if (rx.done) break
      // A bad message: the Channel already closed whatever descriptors came with it.
      if (BAD_MESSAGE_CODES.has(err.code)) error(`bad message: ${describeError(err)}; waiting for the next`)
      else error(`channel: ${describeError(err)}`)
      continue
    }
    log(`received fd=${received}`)
    let problem
    try {
      problem = tcpStreamProblem(native.fdInfo(received))
    } catch (err) {
      problem = describeError(err)
    }
    if (problem !== null) {
      closeFds([received])
      error(`fd=${received} is ${problem}; closed it; waiting for the next`)
      continue
    }
    serve(received).catch((err) => error(describeError(err)))
  }
  peers.delete(rx)
  log('peer disconnected')
}

// --- the full protocol: HELLO, HANDOFF → ACCEPT / REJECT ---------------------

function fullPeer (fd) {
  const session = new Session(fd, 'receiver', 'seed-demo uds-server')
  const verdicts = new Set() // ACCEPTs not yet in the channel
  peers.add(session)
  session.on('ready', (hello, version) => {
    log(`HELLO from ${hello.name ?? 'a sender'} (pid ${hello.pid}), protocol version ${version}`)
  })
  session.on('failed', (err) => error(`session: ${describeError(err)}`))
  session.on('close', () => {
    peers.delete(session)
    log('peer disconnected')
  })
  session.on('handoffError', (err, id) => {
    error(`HANDOFF ${id}: ${describeError(err)}; its descriptors were closed; REJECT ${err.reason}`)
    reject(session, id, err.reason, err.message)
  })
  session.on('message', (msg, fds) => {
    const P = lib.protocol
    if (msg.type === P.FrameType.Goodbye) {
      // §6.6: answer what we have, then close.
      log(`GOODBYE from the sender (${msg.body.reason})`)
      Promise.allSettled(verdicts).then(() => session.close())
      return
    }
    if (msg.type !== P.FrameType.Handoff) return
    const [received] = fds
    log(`received fd=${received}`)
    const { meta, head, buffered } = msg.body
    log(`HANDOFF ${msg.id}: ${JSON.stringify(meta)}`)
    let problem
    try {
      problem = tcpStreamProblem(native.fdInfo(received))
    } catch (err) {
      problem = describeError(err)
    }
    let reason = 'bad-descriptor'
    if (problem === null && meta.target !== undefined) {
      reason = 'unknown-target'
      problem = `no target ${JSON.stringify(meta.target)} here`
    }
    if (problem === null && meta.kind !== 'raw') {
      reason = 'unknown-target'
      problem = `this receiver serves raw connections only, not "${meta.kind}" (${head.length} bytes of head)`
    }
    if (problem !== null) {
      closeFds([received])
      error(`HANDOFF ${msg.id}: fd=${received} ${problem}; closed it; REJECT ${reason}`)
      reject(session, msg.id, reason, problem)
      return
    }
    // §7 receiver rule 2: check the deadline right before the ACCEPT, and
    // touch the connection only once the ACCEPT is completely in the channel.
    if (meta.deadline !== undefined && Date.now() >= meta.deadline) {
      closeFds([received])
      error(`HANDOFF ${msg.id}: decided after its deadline; closed fd=${received}; REJECT expired`)
      reject(session, msg.id, 'expired', 'decided after the deadline')
      return
    }
    const accepted = session.send(P.encodeAccept(msg.id, { live: live + 1, max: null }))
    verdicts.add(accepted)
    accepted.finally(() => verdicts.delete(accepted)).catch(() => {})
    accepted.then(() => {
      log(`ACCEPT ${msg.id}`)
      return serve(received, buffered)
    }, (err) => {
      closeFds([received])
      error(`ACCEPT ${msg.id} not written (${describeError(err)}); closed fd=${received} without serving it`)
    }).catch((err) => error(describeError(err)))
  })
}

function reject (session, id, reason, message) {
  if (id === undefined) return
  session.send(lib.protocol.encodeReject(id, { reason, message }))
    .catch((err) => error(`REJECT ${id}: ${describeError(err)}`))
}

async function main () {
  listener = await listenUnix(flags.uds)
  listener.on('error', (err) => error(`accept: ${describeError(err)}`))
  listener.on('connection', (fd) => {
    const untrusted = trusted(fd)
    if (untrusted !== null) {
      error(`refused a peer: ${untrusted}`)
      if (flags.protocol === 'full') new Session(fd, 'receiver').fatal('unauthorized', untrusted)
      else closeFds([fd])
      return
    }
    log('peer connected')
    if (flags.protocol === 'full') fullPeer(fd)
    else seedPeer(fd).catch((err) => error(describeError(err)))
  })
  log(`listening on ${flags.uds} (${flags.protocol === 'full' ? 'full protocol' : 'seed format'}, ${flags.count} connection(s))`)
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}, exiting`)
    if (listener !== null) listener.close() // removes the socket file
    process.exit(1)
  })
}

main().catch((err) => {
  error(describeError(err))
  process.exitCode = 1
  finish()
})
