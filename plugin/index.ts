// Public surface of fastify-handoff. The flow: intercept (fastify.ts,
// adapters/) → detach + send + acknowledge (sender/) → rebuild + serve
// (receiver/). The channel and protocol are exported for custom peers.
export { Channel, closeFds, type Framer } from './channel.js'
export { listenUnix, connectUnix, UnixListener, type UnixAddress } from './unix.js'
export { binding as native, type FdInfo, type PeerCredentials } from './native.js'
export * as protocol from './protocol/index.js'
export * from './receiver/index.js'
export * from './sender/index.js'
export * from './seed/index.js'
