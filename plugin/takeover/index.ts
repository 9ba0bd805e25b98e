// Listener takeover (issue 13): a new generation of a web app takes the
// listening sockets of the running one, so a restart refuses no connection.
// docs/zero-downtime.md; PROTOCOL.md, "Listener takeover".
export { listen, listenOn, type ListenOptions, type ListenResult } from './listen.js'
export { takeover, Generation, type TakeoverOptions, type Claimed, type ListenerSource, type GenerationEvents } from './generation.js'
export type { OfferSource } from './running.js'
export { systemdListeners, type ActivatedListener } from './systemd.js'
export { TAKEOVER_PROTOCOL, TAKEOVER_VERSION, TakeoverType } from './messages.js'
// The process's deploy figures (takeovers, connections moved / kept / closed): docs/metrics.md.
export { deployStats, type DeployStats } from '../metrics/deploy.js'
