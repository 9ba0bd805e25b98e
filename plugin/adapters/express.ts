// Express adapter. Express never sees upgrade requests on its own, so
// attach() installs the server's one 'upgrade' listener, which runs each
// upgrade through the Express app as an ordinary request whose response is
// written on the raw socket: the app's middleware (authentication, rate
// limits) runs first, and a middleware that answers (401, 429) ends it. The
// route's upgrade() middleware then hands it off. response() does the same
// for SSE / streaming responses. Same guarantees as the Fastify plugin.
//
// Typed against node:http only, so that express stays a peer of the app.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type net from 'node:net'
import {
  Sender, type HandoffResult, type LaterRequests, type RequestHandoffOptions, type SenderOptions,
  type UpgradeHandoffOptions
} from '../sender/handoff.js'
import { defaultLogger, type HandoffLogger } from '../logger.js'
import { ERR_HANDOFF_UPGRADE_REQUIRED } from '../errors.js'

type Next = (err?: unknown) => void
/** An Express (or Connect) middleware, in node:http terms. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void
/** An Express app, or any (req, res) handler. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse, next?: Next) => void

const kUpgrade = Symbol('fastify-handoff.express.upgrade')

interface Upgrade {
  socket: net.Socket
  head: Buffer
}

/** The raw socket and head of an upgrade request routed through the app by attach(), or null. */
export function upgradeOf (req: IncomingMessage): Upgrade | null {
  return (req as IncomingMessage & { [kUpgrade]?: Upgrade })[kUpgrade] ?? null
}

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

function isSender (value: Sender | SenderOptions): value is Sender {
  return value instanceof Sender
}

function defaultContext (req: IncomingMessage, res: ServerResponse): unknown {
  const locals = (res as ServerResponse & { locals?: Record<string, unknown> }).locals
  if (locals !== undefined && locals.handoffContext !== undefined) return locals.handoffContext
  return (req as IncomingMessage & { handoffContext?: unknown }).handoffContext
}

function destroyOnError (this: net.Socket): void {
  this.destroy()
}

export function expressHandoff (options: ExpressHandoffOptions): ExpressHandoff {
  const own = !isSender(options.sender)
  const sender = isSender(options.sender) ? options.sender : new Sender(options.sender)
  const log = options.log
  // The adapter's own lines (routing failures): never console.
  const adapterLog = log ?? defaultLogger()
  const attached: Array<[http.Server, (req: IncomingMessage, socket: net.Socket, head: Buffer) => void]> = []

  const contextOf = (route: RouteHandoffOptions, req: IncomingMessage, res: ServerResponse): unknown =>
    route.context !== undefined ? route.context(req, res) : defaultContext(req, res)

  /**
   * One route's handoff: the sender options (context, log, and for
   * `fallback: 'next'` no answer of the sender's own), then `start`; a
   * connection that stays here goes on to `next` when the route says so. A
   * context function that throws goes to `next(err)`.
   */
  const handOff = (target: string, route: RouteHandoffOptions, req: IncomingMessage, res: ServerResponse, next: Next,
    start: (options: UpgradeHandoffOptions & RequestHandoffOptions) => Promise<HandoffResult>): void => {
    let context: unknown
    try {
      context = contextOf(route, req, res)
    } catch (err) {
      next(err)
      return
    }
    const local = route.fallback === 'local' || route.fallback === 'next'
    void start({
      target,
      ...(context === undefined || context === null ? {} : { context }),
      ...(log === undefined ? {} : { log }),
      ...(local ? { fallback: () => {} } : {})
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
        const upgrade = upgradeOf(req)
        if (upgrade === null) {
          if (route.upgradeOnly === true) {
            const err = new ERR_HANDOFF_UPGRADE_REQUIRED(req.method ?? 'GET', req.url ?? '/')
            adapterLog.warn({ err }, 'not an upgrade request')
            next(err)
            return
          }
          next()
          return
        }
        handOff(target, route, req, res, next, (options) =>
          sender.handoffUpgrade(req, upgrade.socket, upgrade.head, options))
      }
    },

    response (target, route = {}) {
      return (req, res, next) => {
        const upgrade = upgradeOf(req)
        handOff(target, route, req, res, next, (options) => upgrade !== null
          ? sender.handoffUpgrade(req, upgrade.socket, upgrade.head, options)
          : sender.handoffRequest(req, res,
            route.laterRequests === undefined ? options : { ...options, laterRequests: route.laterRequests }))
      }
    },

    attach (server, app) {
      const listener = (req: IncomingMessage, socket: net.Socket, head: Buffer): void => {
        // Node removed its own error listener before 'upgrade'.
        socket.on('error', destroyOnError)
        ;(req as IncomingMessage & { [kUpgrade]?: Upgrade })[kUpgrade] = { socket, head }
        const res = new http.ServerResponse(req)
        res.shouldKeepAlive = false
        res.assignSocket(socket)
        res.once('finish', () => { socket.destroySoon() })
        try {
          app(req, res)
        } catch (err) {
          adapterLog.error({ err }, 'fastify-handoff: routing an upgrade through the app failed')
          socket.destroy()
        }
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
