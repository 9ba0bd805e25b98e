// `fastify-handoff/channel`: the layer under the sender and the receiver, for
// custom peers. Frames and descriptors over a Unix socket (SCM_RIGHTS), and
// the Unix sockets themselves (listen, connect, peer credentials).
export { Channel, closeFds, type Framer, type ChannelOptions, type ChannelEvents, type SendCallback } from '../channel.js'
export { listenUnix, connectUnix, UnixListener, type UnixAddress, type ListenOptions, type ConnectOptions } from '../unix.js'
export type { FdInfo, PeerCredentials } from '../native.js'
