// `fastify-handoff`: the Fastify face. `require('fastify-handoff')` is the
// fp-wrapped web-app plugin itself, like every @fastify/* plugin, so that
// `app.register(require('fastify-handoff'))` and
// `import fastifyHandoff from 'fastify-handoff'` (ESM) both get it; what a
// Fastify user needs besides rides on it as properties. Everything else lives
// behind a subpath of package.json's `exports` (plugin/entry/*.ts):
// /sender, /http, /express, /receiver, /protocol, /channel.
import { fastifyHandoff as plugin } from './fastify.js'
import { handoffReceiver } from './receiver/fastify.js'
import { handoffInfo } from './receiver/info.js'

/** What `require('fastify-handoff')` is: the plugin, with these on it (set below). */
type FastifyHandoff = typeof plugin & {
  /** The module again, for `import fastifyHandoff from` under TypeScript's esModuleInterop. */
  default: FastifyHandoff
  /** The module again, by name: `const { fastifyHandoff } = require('fastify-handoff')`. */
  fastifyHandoff: FastifyHandoff
  /** The sibling side as a Fastify plugin. */
  handoffReceiver: typeof handoffReceiver
  /** How a request's connection came to the sibling: `handoffInfo(request)`. */
  handoffInfo: typeof handoffInfo
}
const withProperties = plugin as FastifyHandoff // each property is set right below
const fastifyHandoff: FastifyHandoff = Object.assign(withProperties, { default: withProperties, fastifyHandoff: withProperties, handoffReceiver, handoffInfo })

// Types ride on a namespace of the same name (it holds no value, so it merges
// with the const): `import { type FastifyHandoffOptions } from 'fastify-handoff'`.
// eslint-disable-next-line @typescript-eslint/no-redeclare
declare namespace fastifyHandoff {
  export type FastifyHandoffOptions = import('./fastify.js').FastifyHandoffOptions
  export type HandoffRouteOption = import('./fastify.js').HandoffRouteOption
  export type HandoffRouteConfig = import('./fastify.js').HandoffRouteConfig
  export type ReplyHandoffOptions = import('./fastify.js').ReplyHandoffOptions
  export type HandoffDecorator = import('./fastify.js').HandoffDecorator
  export type HandoffReceiverOptions = import('./receiver/fastify.js').HandoffReceiverOptions
  export type HandoffInfo = import('./receiver/info.js').HandoffInfo
  export type HandoffSender = import('./receiver/info.js').HandoffSender
  export type HandoffResult = import('./sender/handoff.js').HandoffResult
  export type HandoffOutcome = import('./sender/handoff.js').HandoffOutcome
  export type LaterRequests = import('./sender/handoff.js').LaterRequests
  export type SenderOptions = import('./sender/handoff.js').SenderOptions
  export type TargetOptions = import('./sender/target.js').TargetOptions
  export type TargetHealth = import('./sender/target.js').TargetHealth
  export type BalancePolicy = import('./sender/target.js').BalancePolicy
  export type Allowlist = import('./credentials.js').Allowlist
  export type SenderStats = import('./metrics/sender-stats.js').SenderStats
  export type MetricsOptions = import('./metrics/prometheus.js').MetricsOptions
}

export = fastifyHandoff
// The names, for Node's ESM loader, which reads them from the source without
// running it (cjs-module-lexer) and so cannot see the properties set above.
// This line never runs (esbuild's idiom for the same): only its keys count,
// each followed by a plain identifier, which the lexer needs.
// With it, `import { handoffReceiver } from 'fastify-handoff'` works.

0 && (module.exports = { fastifyHandoff, handoffReceiver: fastifyHandoff, handoffInfo: fastifyHandoff })
