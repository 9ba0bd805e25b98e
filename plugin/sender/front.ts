// The glue every front end (the Fastify plugin, the Express and node:http
// adapters) shares, written once: routing an upgrade request through the
// app as an ordinary request, finding it again in a route, building the
// options of one handoff (context, log, a local fallback), starting the
// handoff of a request or an upgrade, and refusing a non-upgrade on an
// upgrade-only route. The front ends keep only what their framework says
// differently (hooks, middleware, decorators).
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type net from 'node:net'
import { ERR_HANDOFF_UPGRADE_REQUIRED } from '../errors.js'
import type { HandoffLogger } from '../logger.js'
import {
  Sender, type HandoffResult, type LaterRequests, type RequestHandoffOptions, type SenderOptions, type UpgradeHandoffOptions
} from './handoff.js'

/** The raw socket and head of an upgrade request, kept on the request while the app routes it. */
export interface Upgrade {
  socket: net.Socket
  head: Buffer
}

const kUpgrade = Symbol('fastify-handoff.upgrade')

type RawWithUpgrade = IncomingMessage & { [kUpgrade]?: Upgrade }

/** The raw socket and head of an upgrade request routed through the app by routeUpgrade(), or null. */
export function upgradeOf (req: IncomingMessage): Upgrade | null {
  return (req as RawWithUpgrade)[kUpgrade] ?? null
}

/** A socket's 'error' listener while nobody else has one: a client error ends it quietly. */
export function destroyOnError (this: net.Socket): void {
  this.destroy()
}

/**
 * Routes an upgrade request through the app (`route`) as an ordinary
 * request whose response is written on the raw socket: the app's hooks or
 * middleware run, a handoff route takes the socket (upgradeOf), any other
 * route answers with HTTP (a 404, a 426, a 401) and the connection closes
 * after it. `failed` hears a synchronous throw of `route`; the socket is
 * destroyed then.
 */
export function routeUpgrade (req: IncomingMessage, socket: net.Socket, head: Buffer,
  route: (req: IncomingMessage, res: ServerResponse) => void, failed: (err: unknown) => void): void {
  // Node removed its own error listener before 'upgrade'.
  socket.on('error', destroyOnError)
  ;(req as RawWithUpgrade)[kUpgrade] = { socket, head }
  const res = new http.ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket)
  res.once('finish', () => { socket.destroySoon() })
  try {
    route(req, res)
  } catch (err) {
    failed(err)
    socket.destroy()
  }
}

/** What one route (or call) says about one handoff. */
export interface HandoffCall {
  target: string
  /** Not sent when undefined. */
  context?: unknown
  url?: string
  log?: HandoffLogger
  /**
   * A connection that stays here: the sender's 503 ('unavailable', the
   * default), nothing of the sender's own ('local': the caller serves it once
   * the handoff resolves with `fallback: 'local'`), or a function the sender
   * runs.
   */
  fallback?: 'unavailable' | 'local' | ((result: HandoffResult) => void | Promise<void>)
  /** For a plain request: who serves the later requests on its connection. */
  laterRequests?: LaterRequests
}

/** The sender's options for one handoff: only what is set, so the sender's defaults apply to the rest. */
export function handoffOptions (call: HandoffCall): UpgradeHandoffOptions & RequestHandoffOptions {
  const { fallback } = call
  return {
    target: call.target,
    ...(call.context === undefined ? {} : { context: call.context }),
    ...(call.url === undefined ? {} : { url: call.url }),
    ...(call.log === undefined ? {} : { log: call.log }),
    ...(fallback === undefined ? {} : { fallback: fallback === 'local' ? () => {} : fallback })
  }
}

/**
 * Hands off the connection of `req`: the upgrade's raw socket when the app
 * routed an upgrade (`upgrade`, by default upgradeOf(req)), else the
 * connection of a request whose response has not started. Never rejects.
 */
export function handOff (sender: Sender, req: IncomingMessage, res: ServerResponse, call: HandoffCall,
  upgrade: Upgrade | null = upgradeOf(req)): Promise<HandoffResult> {
  const options = handoffOptions(call)
  if (upgrade !== null) return sender.handoffUpgrade(req, upgrade.socket, upgrade.head, options)
  return sender.handoffRequest(req, res,
    call.laterRequests === undefined ? options : { ...options, laterRequests: call.laterRequests })
}

/** The refusal of an ordinary request on an upgrade-only route (426), logged as a warning. */
export function upgradeRequired (method: string | undefined, url: string | undefined, log: HandoffLogger): Error {
  const err = new ERR_HANDOFF_UPGRADE_REQUIRED(method ?? 'GET', url ?? '/')
  log.warn({ err }, 'not an upgrade request')
  return err
}

/** A sender given, or made from options (then the front end's to close). */
export function senderOf (sender: Sender | SenderOptions): { sender: Sender, own: boolean } {
  return sender instanceof Sender ? { sender, own: false } : { sender: new Sender(sender), own: true }
}
