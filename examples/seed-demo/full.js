'use strict'
// `--protocol full`: one PROTOCOL.md session over a Channel, on the reference
// codec (dist/protocol). HELLO exchange (§5), role checks, ERROR on a fatal
// problem (§9); what to do with HANDOFF / ACCEPT / REJECT is the program's.
const { EventEmitter } = require('node:events')
const { library } = require('./common.js')

const { lib } = library()

const { Channel, closeFds, protocol: P } = lib

const HELLO_TIMEOUT_MS = P.DEFAULT_HELLO_TIMEOUT_MS

/**
 * Events: 'ready' (peerHello, version), 'message' (msg, fds) for every frame
 * after the HELLOs (HANDOFF: exactly one fd, its descriptors checked; others:
 * fds always []), 'handoffError' (err, id) for a HANDOFF to REJECT (its
 * descriptors already closed), 'failed' (err) once, when the session ends on
 * an error (ERROR sent or received, channel failure), 'close'.
 */
class Session extends EventEmitter {
  constructor (fd, role, name) {
    super()
    this.role = role
    this.peer = null
    this.version = 0
    this.failed = false
    this.channel = new Channel(fd, P.protocolFramer)
    this.channel.on('message', (frame, fds) => this.onFrame(frame, fds, false))
    this.channel.on('frameError', (err, frame) => this.onFrameError(err, frame))
    this.channel.on('error', (err) => this.fail(err, false))
    this.channel.on('end', () => {
      if (this.peer === null) this.fail(new Error('the peer closed the channel before its HELLO'), false)
    })
    this.channel.on('close', () => {
      clearTimeout(this.timer)
      this.emit('close')
    })
    this.timer = setTimeout(() => {
      this.fatal('timeout', `no HELLO within ${HELLO_TIMEOUT_MS} ms`)
    }, HELLO_TIMEOUT_MS)
    // §5.1: send our HELLO at once, without waiting for the peer's.
    this.send(P.encodeHello({ role, pid: process.pid, name }))
  }

  get closed () { return this.channel.closed }

  send (frame, fds = []) {
    return this.channel.send(frame, fds)
  }

  /** Graceful end (§6.6): GOODBYE, then close once it is in the kernel. */
  goodbye (reason = 'shutdown', message = '') {
    if (this.channel.closed) return
    this.send(P.encodeGoodbye({ reason, message })).catch(() => {}).finally(() => this.channel.close())
  }

  close () { this.channel.close() }

  /** §9 "ERROR and drop": write ERROR, then close. */
  fatal (reason, message) {
    if (this.channel.closed || this.failed) return
    const err = Object.assign(new Error(`${reason}: ${message}`), { reason })
    this.failed = true
    this.emit('failed', err)
    this.send(P.encodeError({ reason, message })).catch(() => {}).finally(() => this.channel.close())
  }

  fail (err, fromPeer) {
    if (this.failed) return
    this.failed = true
    this.emit('failed', err, fromPeer)
    this.channel.close()
  }

  onFrameError (err, frame) {
    // The Channel already closed the frame's descriptors. A frame that brought
    // descriptors it did not declare is processed as if none had come (§9);
    // a HANDOFF without its descriptor gets a REJECT.
    if (frame.length < P.HEADER_SIZE) return // descriptors of no frame (§4): closed, go on
    this.onFrame(frame, [], err instanceof lib.ERR_HANDOFF_FDS_TRUNCATED)
  }

  onFrame (frame, fds, truncated) {
    let msg
    try {
      msg = P.decodeMessage(frame, { fds: fds.length, truncated })
    } catch (err) {
      closeFds(fds)
      if (P.isProtocolError(err) && !err.fatal && this.peer !== null && this.role === 'receiver') {
        this.emit('handoffError', err, err.id)
        return
      }
      this.fatal(P.isProtocolError(err) ? err.reason : 'internal', err.message)
      return
    }
    if (msg.type === P.FrameType.Error) {
      // §5.8: close without answering.
      this.fail(Object.assign(new Error(`the peer sent ERROR ${msg.body.reason}: ${msg.body.message}`), { reason: msg.body.reason }), true)
      return
    }
    if (this.peer === null) {
      if (msg.type !== P.FrameType.Hello) {
        closeFds(fds)
        this.fatal('unexpected-frame', `first frame is ${P.FRAME_TYPE_NAMES[msg.type]}, not HELLO`)
        return
      }
      try {
        this.version = P.negotiateHello({ role: this.role, version: P.PROTOCOL_VERSION, minVersion: P.PROTOCOL_VERSION }, msg.body)
      } catch (err) {
        this.fatal(err.reason || 'internal', err.message)
        return
      }
      clearTimeout(this.timer)
      this.peer = msg.body
      this.emit('ready', msg.body, this.version)
      return
    }
    const sentBy = P.SENT_BY[msg.type]
    if (msg.type === P.FrameType.Hello || sentBy === this.role) {
      closeFds(fds)
      this.fatal('unexpected-frame', `a ${this.role} does not receive ${P.FRAME_TYPE_NAMES[msg.type]}` +
        (msg.type === P.FrameType.Hello ? ' twice' : ''))
      return
    }
    this.emit('message', msg, fds)
  }
}

/** A descriptor a receiver may serve: a TCP stream socket, not listening (PROTOCOL.md, REJECT bad-descriptor). */
function tcpStreamProblem (fdInfo) {
  if (fdInfo.kind !== 'socket') return `not a socket (${fdInfo.kind})`
  if (fdInfo.family !== 'inet' && fdInfo.family !== 'inet6') return `not a TCP socket (family ${fdInfo.family})`
  if (fdInfo.type !== 'stream') return `not a stream socket (type ${fdInfo.type})`
  if (fdInfo.listening) return 'a listening socket, not a connection'
  return null
}

module.exports = { Session, tcpStreamProblem }
