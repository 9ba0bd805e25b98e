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
// Every error code (instanceof ERR_HANDOFF_…) and the one logger type.
export * from './errors.js'
export type { HandoffLogger } from './logger.js'
// Intercepting: the Fastify plugin (also the default export, so that
// `app.register(require('fastify-handoff'))` works) and the node:http and
// Express adapters, all over the framework-free sender.
export { fastifyHandoff, fastifyHandoff as default } from './fastify.js'
// The sibling side inside Fastify: the receiver's life follows the app's.
export { handoffReceiver, type HandoffReceiverOptions } from './receiver/fastify.js'
export type { FastifyHandoffOptions, HandoffRouteOption, HandoffRouteConfig, ReplyHandoffOptions, HandoffDecorator } from './fastify.js'
export {
  handoffUpgrades, handoffResponse, type UpgradeDecision, type UpgradeHandoff, type ResponseHandoffOptions,
  type UpgradeHandoffOptions as HttpUpgradeHandoffOptions
} from './adapters/http.js'
export * from './adapters/express.js'
