// The wire protocol of PROTOCOL.md as a pure codec: no I/O, no sockets.
export * from './limits.js'
export * from './errors.js'
// Named, not `export *`: frame.ts also holds the encoders' and decoders'
// own checks (checkEncodeVersion, checkFrameId, checkFrameLength), which no
// peer needs (encodeHandoff/encodeAccept and decodeFrame/decodeMessage make them).
export {
  MAGIC, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION, PROTOCOL_NAME, FrameType, FRAME_TYPE_NAMES,
  SENT_BY, ALLOWED_FLAGS, type FrameHeader, type Framer, isFrameType, isHandoffLevel, encodeFrame, allocFrame,
  checkHandoffFrame, decodeHeader, checkFrameVersion, decodeFrame, createFramer, protocolFramer, checkDescriptors
} from './frame.js'
export * from './messages.js'
