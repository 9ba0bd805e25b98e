// The Fastify plugin: glue between Fastify's request lifecycle and the
// framework-free sender (sender/).
//
//  - Named targets are registered once: `app.register(handoff, { targets })`.
//  - A GET route with the `handoff` option hands WebSocket upgrades off after
//    the app's own onRequest / preValidation / preHandler hooks ran (its
//    handler still serves ordinary requests). A hook that replies ends the
//    request as usual: nothing is handed off.
//  - `reply.handoff(target, context)` hands off the connection of a request
//    whose response has not started (SSE, streaming, long polling); later
//    requests on it come back here unless the app says `laterRequests`.
//  - Exactly one 'upgrade' listener routes upgrades into Fastify:
//    @fastify/websocket's when it is registered, this plugin's otherwise.
import type http from 'node:http'
import type net from 'node:net'
import fp from 'fastify-plugin'
import type {
  FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions,
  RawServerBase, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression,
  ContextConfigDefault, FastifySchema, FastifyTypeProvider, FastifyTypeProviderDefault, FastifyBaseLogger,
  RouteGenericInterface
} from 'fastify'
import { Sender, type HandoffResult, type LaterRequests, type SenderOptions } from './sender/handoff.js'
import type { TargetHealth } from './sender/target.js'
import type { SenderStats } from './metrics/sender-stats.js'
import { ERR_HANDOFF_NOT_UPGRADE, ERR_HANDOFF_UNKNOWN_TARGET } from './errors.js'
import { websocketUpgradeOf } from './internals.js'
import { handOff, routeUpgrade, upgradeOf as routedUpgradeOf, upgradeRequired, type Upgrade } from './sender/front.js'

/** The `handoff` option of a route: a target name, or the full form. */
export type HandoffRouteOption = string | HandoffRouteConfig

export interface HandoffRouteConfig {
  /** The named target WebSocket upgrades of this route go to. */
  target: string
  /**
   * The JSON context sent with the connection (the receiver's
   * handoffInfo(req).context). Default: `request.handoffContext`, which the
   * app's hooks may fill (e.g. with the authenticated user).
   */
  context?: (request: FastifyRequest) => unknown
  /**
   * When the connection stays here (REJECT, timeout, no receiver):
   * 'unavailable' (default) answers 503 + Retry-After on the raw socket;
   * 'local' lets the route's own handler serve the upgrade (e.g. with
   * @fastify/websocket's `websocket: true`).
   */
  fallback?: 'unavailable' | 'local'
  /**
   * Refuse requests to this route that are not upgrades (426 with
   * ERR_HANDOFF_UPGRADE_REQUIRED) instead of letting its handler serve them.
   * Default false.
   */
  upgradeOnly?: boolean
}

export interface ReplyHandoffOptions {
  /**
   * When the connection stays here: 'unavailable' (default) answers 503 +
   * Retry-After; a function serves it locally. The reply is hijacked (write
   * with reply.raw, as an SSE handler does).
   */
  fallback?: 'unavailable' | ((result: HandoffResult) => void | Promise<void>)
  /**
   * Who serves the requests that follow this one on its connection: 'close'
   * (default) ends the connection after the sibling's response, so the
   * client's next request comes back here, through this app's hooks;
   * 'sibling' lets the sibling serve them without this app seeing them (it
   * must authenticate them itself: handoffInfo(req).requestNumber > 1).
   * Ignored for an upgrade.
   */
  laterRequests?: LaterRequests
}

export interface FastifyHandoffOptions extends Partial<SenderOptions> {
  /** A sender made elsewhere (shared between apps); the plugin does not close it. */
  sender?: Sender
  /** Serve `fastify.handoff.health()` as JSON on this GET path. Default: none. */
  healthRoute?: string
}

export interface HandoffDecorator {
  readonly sender: Sender
  /** Every target's health: receivers, their state, load and errors. */
  health (): Record<string, TargetHealth>
  /** Handoffs counted by target and outcome, latency, receivers' load and reconnects (docs/metrics.md). */
  stats (): SenderStats
  /** Whether `target` (or every target) has a receiver taking handoffs now. */
  healthy (target?: string): boolean
  /** Resolves once `target` (or every target) has a receiver taking handoffs; never rejects. */
  ready (target?: string): Promise<void>
}

declare module 'fastify' {
  // Declaration merging repeats every type parameter of Fastify's own
  // declaration, used or not.
  /* eslint-disable @typescript-eslint/no-unused-vars */
  interface RouteShorthandOptions<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
    ContextConfig = ContextConfigDefault,
    SchemaCompiler extends FastifySchema = FastifySchema,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
    Logger extends FastifyBaseLogger = FastifyBaseLogger
  > { /* eslint-enable @typescript-eslint/no-unused-vars */
    /** Hand WebSocket upgrades of this GET route to a sibling process, after the app's hooks. */
    handoff?: HandoffRouteOption
  }
  interface FastifyRequest {
    /** What the app's hooks want the receiver to see (sent unless the route's `handoff.context` says otherwise). */
    handoffContext: unknown
  }
  interface FastifyReply {
    /**
     * Hands this connection to `target` (SSE, streaming, long polling; or an
     * upgrade) and hijacks the reply. Resolves (never rejects) once settled.
     */
    handoff (target: string, context?: unknown, options?: ReplyHandoffOptions): Promise<HandoffResult>
  }
  interface FastifyInstance {
    handoff: HandoffDecorator
  }
}

/**
 * The raw socket and head of an upgrade request routed into Fastify, by this
 * plugin's listener or by @fastify/websocket's (`websocket`: it is the app's
 * 'upgrade' listener, so an upgrade request not routed by us was routed by it).
 */
function upgradeOf (raw: http.IncomingMessage, websocket: boolean): Upgrade | null {
  return routedUpgradeOf(raw) ?? websocketUpgradeOf(raw, websocket)
}

function routeConfig (option: HandoffRouteOption): HandoffRouteConfig {
  return typeof option === 'string' ? { target: option } : option
}

function methodsOf (route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) => String(m).toUpperCase())
}

const handoffPlugin: FastifyPluginCallback<FastifyHandoffOptions> = (fastify, options, done) => {
  let sender: Sender
  const ownSender = options.sender === undefined
  try {
    sender = options.sender ?? new Sender({
      ...(options as SenderOptions),
      targets: options.targets ?? {},
      log: options.log ?? fastify.log
    })
  } catch (err) {
    done(err as Error)
    return
  }

  // Set on onReady: @fastify/websocket routes the app's upgrades (and keeps
  // their socket and head its own way), or this plugin does.
  let websocketRoutes = false

  const decorator: HandoffDecorator = {
    sender,
    health: () => sender.health(),
    stats: () => sender.stats(),
    healthy: (target?: string) => {
      if (target !== undefined) return sender.target(target).healthy
      return sender.names().every((name) => sender.target(name).healthy)
    },
    ready: (target?: string) => sender.ready(target)
  }
  fastify.decorate('handoff', decorator)
  fastify.decorateRequest('handoffContext', null)

  fastify.decorateReply('handoff', function (this: FastifyReply, target: string, context?: unknown,
    replyOptions: ReplyHandoffOptions = {}): Promise<HandoffResult> {
    const reply = this
    const request = reply.request
    // From now on Fastify writes nothing on this response: the receiver, or
    // the fallback, answers.
    reply.hijack()
    return handOff(sender, request.raw, reply.raw, {
      target,
      context,
      url: request.originalUrl,
      log: request.log,
      ...(replyOptions.fallback === undefined ? {} : { fallback: replyOptions.fallback }),
      ...(replyOptions.laterRequests === undefined ? {} : { laterRequests: replyOptions.laterRequests })
    }, upgradeOf(request.raw, websocketRoutes))
  })

  fastify.addHook('onRoute', (route) => {
    const option = (route as RouteOptions & { handoff?: HandoffRouteOption }).handoff
    if (option === undefined || option === null) return
    const methods = methodsOf(route)
    // Fastify's automatic HEAD route for a GET carries the same options: a
    // HEAD request is never an upgrade, its handler serves it.
    if (methods.every((m) => m === 'HEAD')) return
    if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) throw new ERR_HANDOFF_NOT_UPGRADE(methods.join(','), route.url)
    const config = routeConfig(option)
    if (typeof config !== 'object' || config === null || typeof config.target !== 'string') {
      throw new ERR_HANDOFF_NOT_UPGRADE(methods.join(','), `${route.url} (the handoff option needs a target)`)
    }
    if (!sender.has(config.target)) throw new ERR_HANDOFF_UNKNOWN_TARGET(config.target)

    // Route-level hooks run after the app's own: this is the last preHandler.
    const preHandler = async function handoffUpgrade (request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const upgrade = upgradeOf(request.raw, websocketRoutes)
      if (upgrade === null) {
        if (config.upgradeOnly === true) throw upgradeRequired(request.method, request.url, request.log)
        return // an ordinary request: the route's handler serves it
      }
      // A context function that throws fails the request like any hook would.
      const context = config.context !== undefined ? await config.context(request) : request.handoffContext
      const local = config.fallback === 'local'
      if (!local) reply.hijack()
      const result = await handOff(sender, request.raw, reply.raw, {
        target: config.target,
        // request.handoffContext is null until a hook sets it: nothing is sent then.
        context: context ?? undefined,
        url: request.originalUrl,
        log: request.log,
        ...(local ? { fallback: 'local' as const } : {})
      }, upgrade)
      // Handed off, answered with 503, closed in doubt, or already on its way
      // in another handoff: the handler must not run. When the sender ran the
      // 'local' fallback it does: it serves the upgrade here.
      if (result.fallback === 'local') return
      if (!reply.sent) reply.hijack()
    }
    const existing = route.preHandler
    route.preHandler = existing === undefined || existing === null
      ? [preHandler]
      : [...(Array.isArray(existing) ? existing : [existing]), preHandler] as RouteOptions['preHandler']
  })

  if (typeof options.healthRoute === 'string') {
    fastify.get(options.healthRoute, async () => decorator.health())
  }

  // The one 'upgrade' listener: @fastify/websocket's if it is there (it
  // routes every upgrade into Fastify, and the handoff routes' preHandler
  // takes theirs), else ours, which does the same.
  let listening: ((req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void) | null = null
  fastify.addHook('onReady', function (ready) {
    const server = fastify.server as http.Server
    const websocketPlugin = fastify.hasPlugin('@fastify/websocket') || fastify.hasDecorator('websocketServer')
    if (websocketPlugin) {
      websocketRoutes = true
      ready()
      return
    }
    if (server.listenerCount('upgrade') > 0) {
      fastify.log.warn('fastify-handoff: another \'upgrade\' listener is attached to the server; ' +
        'both would handle each upgrade. Route upgrades through Fastify only (this plugin or @fastify/websocket).')
    }
    listening = (req, socket, head) => routeUpgrade(req, socket, head, (req, res) => fastify.routing(req, res), (err) => {
      fastify.log.warn({ err }, 'fastify-handoff: routing an upgrade failed')
    })
    server.on('upgrade', listening)
    ready()
  })
  fastify.addHook('preClose', function (next) {
    if (listening !== null) (fastify.server as http.Server).removeListener('upgrade', listening)
    listening = null
    next()
  })
  fastify.addHook('onClose', async () => {
    if (ownSender) await sender.close()
  })
  done()
}

export const fastifyHandoff = fp(handoffPlugin, { fastify: '5.x', name: 'fastify-handoff' })
export default fastifyHandoff
