// The wire protocol of PROTOCOL.md as a pure codec: no I/O, no sockets.
// Every export is named, none through `export *`: this is the public surface
// of 'fastify-handoff/protocol', listed in one place, and the library's own
// modules import through it on every handoff. TypeScript's CommonJS output
// reads an `export *` binding through one getter shared by all of them
// (`m[k]`, a megamorphic lookup on every call of encodeHandoff,
// decodeMessage, ...); a named one gets a getter of its own, which V8 inlines
// to a plain load.
export {
  HEADER_SIZE, MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_META_SIZE, MAX_HEAD_SIZE,
  MAX_BUFFERED_SIZE, HANDOFF_PREFIX_SIZE, MAX_HANDOFF_FRAME_SIZE, MAX_CONTROL_BODY_SIZE, MAX_FDS_PER_FRAME,
  FDS_PER_HANDOFF, MAX_REASON_LENGTH, MAX_NAME_LENGTH, codePointLength, DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_FRAME_TIMEOUT_MS, DEFAULT_VERDICT_TIMEOUT_MS, MAX_TIMEOUT_MS
} from './limits.js'
export {
  ERR_HANDOFF_PROTOCOL, ERR_HANDOFF_INVALID_ARG, REJECT_REASONS, ERROR_REASONS, protocolError, frameTooLarge,
  isProtocolError, isRejectReason, isErrorReason, type RejectReason, type ErrorReason, type ProtocolReason,
  type HandoffProtocolError, type ViolationOptions
} from './errors.js'
// Named, not `export *`: frame.ts also holds the encoders' and decoders'
// own checks (checkVersionArgument, checkFrameId, checkFrameLength), which no
// peer needs (encodeHandoff/encodeAccept and decodeFrame/decodeMessage make them).
export {
  MAGIC, PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, MAX_PROTOCOL_VERSION, PROTOCOL_NAME, FrameType, FRAME_TYPE_NAMES,
  SENT_BY, ALLOWED_FLAGS, type FrameHeader, type Framer, isFrameType, isHandoffLevel, encodeFrame, allocFrame,
  checkHandoffFrame, decodeHeader, checkFrameVersion, decodeFrame, createFramer, protocolFramer, checkDescriptors
} from './frame.js'
export {
  ROLES, HANDOFF_KINDS, DEFAULT_RETRYABLE, isProtocolName, encodeHello, decodeHello, outOfPlace, negotiateHello,
  encodeHandoff, decodeHandoff, handoffFrameSize, encodeAccept, decodeAccept, encodeReject, decodeReject,
  encodeStatus, decodeStatus, encodeGoodbye, decodeGoodbye, encodeError, decodeError, encodeStatusRequest,
  decodeStatusRequest, encodeStatusReport, decodeStatusReport, decodeMessage, type Role, type Hello, type HelloInit,
  type HandoffKind, type AddressFamily, type HandoffMeta, type HandoffRequest, type Accept, type Reason, type Reject,
  type RejectInit, type Status, type GoodbyeReason, type Goodbye, type ErrorBody, type StatusRequest,
  type PeerSummary, type StatusReport, type Message, type DecodeOptions
} from './messages.js'
