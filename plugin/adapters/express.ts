// Express adapter. Express never sees upgrade requests on its own, so
// attach() installs the server's one 'upgrade' listener, which runs each
// upgrade through the Express app as an ordinary request whose response is
// written on the raw socket: the app's middleware (authentication, rate
// limits) runs first, and a middleware that answers (401, 429) ends it. The
// route's upgrade() middleware then hands it off. response() does the same
// for SSE / streaming responses. Same guarantees as the Fastify plugin.
//
// Typed against node:http only, so that express stays a peer of the app.
import type http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import type { Sender, LaterRequests, SenderOptions } from '../sender/handoff.js'
import { defaultLogger, type HandoffLogger } from '../logger.js'
import { handOff as startHandoff, routeUpgrade, senderOf, upgradeOf, upgradeRequired } from '../sender/front.js'

type Next = (err?: unknown) => void
/** An Express (or Connect) middleware, in node:http terms. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void
/** An Express app, or any (req, res) handler. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse, next?: Next) => void

/** The raw socket and head of an upgrade request routed through the app by attach(), or null. */
export { upgradeOf }

export interface ExpressHandoffOptions {
  /** A sender, or the options to make one (then closed by close()). */
  sender: Sender | SenderOptions
  /** Where this adapter and its handoffs log. Default: the sender's; silent, or NODE_DEBUG=handoff. */
  log?: HandoffLogger
}

export interface RouteHandoffOptions {
  /**
   * The JSON context sent with the connection. Default:
   * `res.locals.handoffContext`, which earlier middleware may fill (e.g. with
   * the authenticated user), else `req.handoffContext`.
   */
  context?: (req: IncomingMessage, res: ServerResponse) => unknown
  /**
   * When the connection stays here: 'unavailable' (default) answers 503 +
   * Retry-After; 'local' passes the request on to the next handler, which
   * serves it here (for an upgrade, with upgradeOf(req)): the same values as
   * the Fastify route option. 'next' is the 0.1 name of 'local'.
   */
  fallback?: 'unavailable' | 'local' | 'next'
}

export interface ResponseRouteOptions extends RouteHandoffOptions {
  /**
   * Who serves the later requests on the connection: 'close' (default) ends
   * it after the sibling's response, so they come back through this app's
   * middleware; 'sibling' lets the sibling serve them unseen by this app.
   * Ignored for an upgrade.
   */
  laterRequests?: LaterRequests
}

export interface UpgradeRouteOptions extends RouteHandoffOptions {
  /** Answer ordinary (non-upgrade) requests 426 instead of passing them on. Default false. */
  upgradeOnly?: boolean
}

export interface ExpressHandoff {
  readonly sender: Sender
  /** Route middleware handing upgrade requests to `target` (ordinary requests go on to `next`). */
  upgrade (target: string, options?: UpgradeRouteOptions): Middleware
  /** Route middleware handing the connection of this request to `target` (SSE, streaming, long polling). */
  response (target: string, options?: ResponseRouteOptions): Middleware
  /** Installs the one 'upgrade' listener of `server`, routing upgrades through `app`. */
  attach (server: http.Server, app: RequestListener): void
  /** Removes the listener and, if the adapter made the sender, closes it. */
  close (): Promise<void>
}

function defaultContext (req: IncomingMessage, res: ServerResponse): unknown {
  const locals = (res as ServerResponse & { locals?: Record<string, unknown> }).locals
  if (locals !== undefined && locals.handoffContext !== undefined) return locals.handoffContext
  return (req as IncomingMessage & { handoffContext?: unknown }).handoffContext
}

export function expressHandoff (options: ExpressHandoffOptions): ExpressHandoff {
  const { sender, own } = senderOf(options.sender)
  const log = options.log
  // The adapter's own lines (routing failures): never console.
  const adapterLog = log ?? defaultLogger()
  const attached: Array<[http.Server, (req: IncomingMessage, socket: net.Socket, head: Buffer) => void]> = []

  const contextOf = (route: RouteHandoffOptions, req: IncomingMessage, res: ServerResponse): unknown =>
    route.context !== undefined ? route.context(req, res) : defaultContext(req, res)

  /**
   * One route's handoff: its context (a context function that throws goes
   * to `next(err)`), then the handoff; a connection that stays here goes on
   * to `next` when the route's fallback is 'local'.
   */
  const handOff = (target: string, route: RouteHandoffOptions, req: IncomingMessage, res: ServerResponse, next: Next,
    laterRequests?: LaterRequests): void => {
    let context: unknown
    try {
      context = contextOf(route, req, res)
    } catch (err) {
      next(err)
      return
    }
    const local = route.fallback === 'local' || route.fallback === 'next'
    void startHandoff(sender, req, res, {
      target,
      context: context ?? undefined,
      ...(log === undefined ? {} : { log }),
      ...(local ? { fallback: 'local' as const } : {}),
      ...(laterRequests === undefined ? {} : { laterRequests })
    }).then((result) => {
      // Only when the sender ran the local fallback (not for doubt, nor for a
      // connection already on its way in another handoff).
      if (result.fallback === 'local') next()
    })
  }

  return {
    sender,

    upgrade (target, route = {}) {
      return (req, res, next) => {
        if (upgradeOf(req) !== null) {
          handOff(target, route, req, res, next)
        } else if (route.upgradeOnly === true) {
          next(upgradeRequired(req.method, req.url, adapterLog))
        } else {
          next()
        }
      }
    },

    response (target, route = {}) {
      return (req, res, next) => handOff(target, route, req, res, next, route.laterRequests)
    },

    attach (server, app) {
      const listener = (req: IncomingMessage, socket: net.Socket, head: Buffer): void => {
        routeUpgrade(req, socket, head, (req, res) => app(req, res), (err) => {
          adapterLog.error({ err }, 'fastify-handoff: routing an upgrade through the app failed')
        })
      }
      server.on('upgrade', listener)
      attached.push([server, listener])
    },

    async close () {
      for (const [server, listener] of attached.splice(0)) server.removeListener('upgrade', listener)
      if (own) await sender.close()
    }
  }
}
