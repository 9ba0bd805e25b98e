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

// "No bytes", shared as the library's senders share theirs (plugin/empty.ts):
// a fresh Buffer.alloc(0) costs about 200 ns in V8, more than the rest of
// building the request.
const NONE = Object.freeze(Buffer.alloc(0))

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
    head: NONE,
    buffered: NONE
  }
}

/**
 * The least any JavaScript peer can do per pass for the same version 2 bytes
 * (PROTOCOL.md §14) of sampleRequest: a lower bound for a codec, not a codec.
 * The sender builds the metadata and writes it (the context through
 * JSON.stringify); the receiver reads the same fields into one object (the
 * context through JSON.parse); the ACCEPT is 16 bytes written and read.
 * Nothing is checked (no magic, version, lengths, flags, limits, UTF-8):
 * what a real decoder must check on top of this is the codec's own cost.
 */
function leastCodec () {
  const context = sampleRequest().meta.context
  return {
    encodeHandoff (id, port) {
      const meta = { kind: 'raw', keepAlive: false, sentAt: Date.now(), remoteAddress: '127.0.0.1', remotePort: port, localAddress: '127.0.0.1', localPort: 3000, family: 'IPv4', context }
      const json = JSON.stringify(meta.context)
      const ra = meta.remoteAddress.length
      const la = meta.localAddress.length
      const metaLength = 36 + ra + la + json.length
      const b = Buffer.allocUnsafe(HEADER_SIZE + 12 + metaLength)
      b[0] = 0x48; b[1] = 0x4f; b[2] = 2; b[3] = TYPE_HANDOFF; b[4] = 0; b[5] = 1; b[6] = 0; b[7] = 0
      b.writeUInt32BE(id, 8)
      b.writeUInt32BE(12 + metaLength, 12)
      b.writeUInt32BE(metaLength, 16)
      const o = 20
      b[o] = 3 // raw
      b[o + 1] = 0x1C // both ports, family IPv4
      b.writeUInt16BE(meta.remotePort, o + 2)
      b.writeUInt16BE(meta.localPort, o + 4)
      b.writeUInt16BE(0, o + 6)
      b.writeUInt16BE(ra, o + 8)
      b.writeUInt16BE(la, o + 10)
      b.writeUInt32BE(json.length, o + 12)
      b.writeUInt32BE(0, o + 16)
      b.writeDoubleBE(meta.sentAt, o + 20)
      b.writeDoubleBE(0, o + 28)
      let at = o + 36
      at += b.latin1Write(meta.remoteAddress, at, ra)
      at += b.latin1Write(meta.localAddress, at, la)
      at += b.latin1Write(json, at, json.length)
      b.writeUInt32BE(0, at)
      b.writeUInt32BE(0, at + 4)
      return b
    },
    decodeHandoff (frame) {
      const o = 20
      const ra = frame.readUInt16BE(o + 8)
      const la = frame.readUInt16BE(o + 10)
      const cl = frame.readUInt32BE(o + 12)
      const at = o + 36
      return {
        id: frame.readUInt32BE(8),
        meta: {
          kind: 'raw',
          keepAlive: (frame[o + 1] & 1) !== 0,
          sentAt: frame.readDoubleBE(o + 20),
          remoteAddress: frame.latin1Slice(at, at + ra),
          remotePort: frame.readUInt16BE(o + 2),
          localAddress: frame.latin1Slice(at + ra, at + ra + la),
          localPort: frame.readUInt16BE(o + 4),
          family: 'IPv4',
          context: JSON.parse(frame.latin1Slice(at + ra + la, at + ra + la + cl))
        }
      }
    },
    encodeAccept (id, live) {
      const b = Buffer.allocUnsafe(HEADER_SIZE + 16)
      b[0] = 0x48; b[1] = 0x4f; b[2] = 2; b[3] = TYPE_ACCEPT; b[4] = 0; b[5] = 0; b[6] = 0; b[7] = 0
      b.writeUInt32BE(id, 8)
      b.writeUInt32BE(16, 12)
      b.writeUInt32BE(0, 16)
      b.writeUInt32BE(live, 20)
      b.writeUInt32BE(0xFFFFFFFF, 24)
      b.writeUInt32BE(0xFFFFFFFF, 28)
      return b
    },
    decodeAccept (frame) {
      return { id: frame.readUInt32BE(8), live: frame.readUInt32BE(20), max: frame.readUInt32BE(24) === 0xFFFFFFFF ? null : frame.readUInt32BE(28) }
    }
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
      id (frame) { return frame.readUInt32BE(8) },
      // least: the lower bound of any codec for these bytes (version 2 only), checked against the real one
      least: version === 2 ? checkedLeast() : null
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

/** leastCodec(), once its frames are shown to be the real codec's, byte for byte (the sentAt aside). */
function checkedLeast () {
  const least = leastCodec()
  const port = 40001
  const mine = least.encodeHandoff(7, port)
  const real = protocol.encodeHandoff(7, sampleRequest(port), protocol.MAX_FRAME_SIZE, 2)
  mine.writeDoubleBE(0, 40) // sentAt: the two were built at different times
  real.writeDoubleBE(0, 40)
  if (!mine.equals(real)) throw new Error('bench/lib/frames.js: the least codec\'s HANDOFF differs from the real one')
  if (!least.encodeAccept(7, 3).equals(protocol.encodeAccept(7, { live: 3, max: null }, 2))) {
    throw new Error('bench/lib/frames.js: the least codec\'s ACCEPT differs from the real one')
  }
  const decoded = least.decodeHandoff(real)
  const expected = protocol.decodeMessage(real, { fds: 1, version: 2 }).body.meta
  if (JSON.stringify(decoded.meta) !== JSON.stringify(expected)) throw new Error('bench/lib/frames.js: the least codec reads other metadata')
  return least
}

module.exports = { frames, protocol, sampleRequest, HEADER_SIZE }
