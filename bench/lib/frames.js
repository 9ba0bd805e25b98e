'use strict'
// The frames the pass-rate benchmarks send: the protocol's real HANDOFF and
// ACCEPT (dist/protocol) when it is built, of the version a channel between
// two of our peers speaks (the highest the build speaks: 2, binary metadata,
// PROTOCOL.md §14; HANDOFF_PROTOCOL_VERSION=1 in the environment for JSON,
// to compare: the contenders' processes inherit it), else a stand-in with the
// same 16-byte header layout (magic "HO", version 1, type, flags, fdCount,
// reserved, id, bodyLength) and a 200-byte body.
const { tryRequire } = require('./common.js')

const HEADER_SIZE = 16
const TYPE_HANDOFF = 2
const TYPE_ACCEPT = 3

const protocol = (() => {
  const p = tryRequire('protocol/index.js')
  if (p && typeof p.encodeHandoff === 'function' && typeof p.encodeAccept === 'function' &&
      typeof p.decodeMessage === 'function' && p.protocolFramer) return p
  return null
})()

/** The protocol version the frames are of (a build from before version 2 speaks only 1). */
const version = (() => {
  if (protocol === null) return 1
  const highest = typeof protocol.MAX_PROTOCOL_VERSION === 'number' ? protocol.MAX_PROTOCOL_VERSION : 1
  const asked = Number(process.env.HANDOFF_PROTOCOL_VERSION ?? highest)
  if (!Number.isInteger(asked) || asked < 1 || asked > highest) throw new Error(`HANDOFF_PROTOCOL_VERSION must be 1 to ${highest}`)
  return asked
})()

function header (type, fdCount, id, bodyLength) {
  const h = Buffer.alloc(HEADER_SIZE)
  h.writeUInt16BE(0x484f, 0)
  h.writeUInt8(1, 2)
  h.writeUInt8(type, 3)
  h.writeUInt8(fdCount, 5)
  h.writeUInt32BE(id, 8)
  h.writeUInt32BE(bodyLength, 12)
  return h
}

const fallbackFramer = Object.freeze({
  headerSize: HEADER_SIZE,
  maxFrameSize: 1024 * 1024,
  parse (h) {
    if (h.readUInt16BE(0) !== 0x484f) throw new Error('bad magic')
    return { frameSize: HEADER_SIZE + h.readUInt32BE(12), fdCount: h.readUInt8(5) }
  }
})

/** A HANDOFF request of a loopback connection with a small context: a body of 245 bytes in version 1 (JSON), 126 in version 2. */
function sampleRequest (port = 40000) {
  return {
    meta: {
      kind: 'raw',
      keepAlive: false,
      sentAt: Date.now(),
      remoteAddress: '127.0.0.1',
      remotePort: port,
      localAddress: '127.0.0.1',
      localPort: 3000,
      family: 'IPv4',
      context: { user: 'bench-user-0001', room: 'lobby', roles: ['reader'] }
    },
    head: Buffer.alloc(0),
    buffered: Buffer.alloc(0)
  }
}

/** The frames for one benchmark run. `handoff(id)` / `accept(id)` return a Buffer (reused: the channel copies it). */
function frames () {
  if (protocol !== null) {
    const handoffTemplate = protocol.encodeHandoff(1, sampleRequest(), protocol.MAX_FRAME_SIZE, version)
    const acceptTemplate = protocol.encodeAccept(1, { live: 1, max: null }, version)
    return {
      kind: `protocol v${version}`,
      version,
      framer: protocol.protocolFramer,
      handoffSize: handoffTemplate.length,
      acceptSize: acceptTemplate.length,
      // raw: the frame built once, its id rewritten for each pass
      handoff (id) { handoffTemplate.writeUInt32BE(id, 8); return handoffTemplate },
      accept (id) { acceptTemplate.writeUInt32BE(id, 8); return acceptTemplate },
      // codec: what a real peer does for each pass
      encodeHandoff (id, port) { return protocol.encodeHandoff(id, sampleRequest(port), protocol.MAX_FRAME_SIZE, version) },
      decodeHandoff (frame, fds) { return protocol.decodeMessage(frame, { fds, version }) },
      encodeAccept (id, live) { return protocol.encodeAccept(id, { live, max: null }, version) },
      decodeAccept (frame) { return protocol.decodeMessage(frame, { version }) },
      id (frame) { return frame.readUInt32BE(8) }
    }
  }
  const body = Buffer.alloc(200, 0x61)
  const handoffTemplate = Buffer.concat([header(TYPE_HANDOFF, 1, 1, body.length), body])
  const acceptBody = Buffer.from('{"live":1,"max":null}')
  const acceptTemplate = Buffer.concat([header(TYPE_ACCEPT, 0, 1, acceptBody.length), acceptBody])
  return {
    kind: 'stand-in',
    version: 1,
    framer: fallbackFramer,
    handoffSize: handoffTemplate.length,
    acceptSize: acceptTemplate.length,
    handoff (id) { handoffTemplate.writeUInt32BE(id, 8); return handoffTemplate },
    accept (id) { acceptTemplate.writeUInt32BE(id, 8); return acceptTemplate },
    encodeHandoff (id, port) {
      const meta = Buffer.from(JSON.stringify(sampleRequest(port).meta))
      return Buffer.concat([header(TYPE_HANDOFF, 1, id, meta.length), meta])
    },
    decodeHandoff (frame) { return JSON.parse(frame.subarray(HEADER_SIZE).toString()) },
    encodeAccept (id, live) {
      const b = Buffer.from(JSON.stringify({ live, max: null }))
      return Buffer.concat([header(TYPE_ACCEPT, 0, id, b.length), b])
    },
    decodeAccept (frame) { return JSON.parse(frame.subarray(HEADER_SIZE).toString()) },
    id (frame) { return frame.readUInt32BE(8) }
  }
}

module.exports = { frames, protocol, sampleRequest, HEADER_SIZE }
