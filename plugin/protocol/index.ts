// The wire protocol of PROTOCOL.md as a pure codec: no I/O, no sockets.
export * from './limits.js'
export * from './errors.js'
export * from './frame.js'
export * from './messages.js'
