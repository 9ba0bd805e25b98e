// node:http adapter: the server's one 'upgrade' listener, which asks the app
// (`route`) what to do with each upgrade request (hand it to a target, answer
// it, or leave it to a local handler) and then does it with the same
// guarantees as the Fastify plugin: nothing lost, ownership never in doubt,
// a 503 with Retry-After on the raw socket when the connection stays here.
// Also: handoffResponse() for SSE / streaming responses of a 'request' handler.
import type http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import type { Sender, HandoffResult, LaterRequests, SenderOptions } from '../sender/handoff.js'
import { writeResponse } from '../sender/fallback.js'
import { destroyOnError, handoffOptions, senderOf } from '../sender/front.js'
import { defaultLogger, type HandoffLogger } from '../logger.js'

/** What `route` decides for one upgrade request. */
export type UpgradeDecision =
  /** Hand it to this target, with this JSON context. */
  | { target: string, context?: unknown }
  /** Answer it here (e.g. 401, 429) and close: nothing is handed off. */
  | { status: number, headers?: Record<string, string>, body?: string }
  /** Not ours: `otherwise` gets it. */
  | null | undefined | false

export interface UpgradeHandoffOptions {
  /** A sender, or the options to make one (then closed by close()). */
  sender: Sender | SenderOptions
  /** The app's decision for each upgrade request (authentication, routing, rate limits). May be async. */
  route: (req: IncomingMessage) => UpgradeDecision | Promise<UpgradeDecision>
  /** Upgrades `route` does not claim, e.g. a local WebSocketServer's handleUpgrade. Default: 404 and close. */
  otherwise?: (req: IncomingMessage, socket: net.Socket, head: Buffer) => void
  /**
   * A claimed upgrade that stays here (REJECT, timeout, no receiver):
   * 'unavailable' (default) writes 503 + Retry-After on the raw socket; a
   * function serves it locally (the socket reads again; `head` is as it came).
   */
  fallback?: 'unavailable' | ((req: IncomingMessage, socket: net.Socket, head: Buffer, result: HandoffResult) => void)
  /** Where this adapter and its handoffs log. Default: the sender's; silent, or NODE_DEBUG=handoff. */
  log?: HandoffLogger
}

export interface UpgradeHandoff {
  readonly sender: Sender
  /** The 'upgrade' listener installed on the server. */
  readonly listener: (req: IncomingMessage, socket: net.Socket, head: Buffer) => void
  /** Removes the listener and, if the adapter made the sender, closes it. */
  close (): Promise<void>
}

/** Claims the server's upgrades: installs exactly one 'upgrade' listener. */
export function handoffUpgrades (server: http.Server, options: UpgradeHandoffOptions): UpgradeHandoff {
  const { sender, own } = senderOf(options.sender)
  const log = options.log
  // The adapter's own lines (routing failures): never console.
  const adapterLog = log ?? defaultLogger()

  const listener = (req: IncomingMessage, socket: net.Socket, head: Buffer): void => {
    // Node removed its own error listener before 'upgrade'.
    socket.on('error', destroyOnError)
    // While `route` runs, Node keeps reading into the socket's buffer; the
    // detach drains it, so nothing is lost however long the app takes.
    let decided: Promise<UpgradeDecision>
    try {
      decided = Promise.resolve(options.route(req))
    } catch (err) {
      decided = Promise.reject(err)
    }
    decided.then(async (decision) => {
      if (decision === null || decision === undefined || decision === false) {
        if (options.otherwise !== undefined) {
          socket.removeListener('error', destroyOnError)
          options.otherwise(req, socket, head)
        } else {
          await writeResponse(socket, { status: 404 })
        }
        return
      }
      if ('status' in decision) {
        await writeResponse(socket, decision)
        return
      }
      const fallback = options.fallback
      await sender.handoffUpgrade(req, socket, head, handoffOptions({
        target: decision.target,
        context: decision.context,
        ...(log === undefined ? {} : { log }),
        ...(typeof fallback === 'function'
          ? { fallback: (result: HandoffResult) => fallback(req, socket, head, result) }
          : {})
      }))
    }).catch((err: unknown) => {
      adapterLog.error({ err }, 'fastify-handoff: an upgrade could not be routed')
      if (!socket.destroyed) void writeResponse(socket, { status: 500 })
    })
  }

  server.on('upgrade', listener)
  return {
    sender,
    listener,
    async close () {
      server.removeListener('upgrade', listener)
      if (own) await sender.close()
    }
  }
}

export interface ResponseHandoffOptions {
  target: string
  context?: unknown
  /** 'unavailable' (default): 503 + Retry-After through `res`; or serve it locally. */
  fallback?: 'unavailable' | ((result: HandoffResult) => void | Promise<void>)
  /**
   * Who serves the later requests on the connection: 'close' (default) ends
   * it after the sibling's response, so they come back here; 'sibling' lets
   * the sibling serve them unseen by this app.
   */
  laterRequests?: LaterRequests
  /** Where this adapter and its handoffs log. Default: the sender's; silent, or NODE_DEBUG=handoff. */
  log?: HandoffLogger
}

/**
 * Hands off the connection of a request whose response has not started (SSE,
 * streaming, long polling): the receiver writes this response; later requests
 * on the connection come back here on a new connection unless
 * `laterRequests` is 'sibling'. Never rejects.
 */
export function handoffResponse (sender: Sender, req: IncomingMessage, res: ServerResponse,
  options: ResponseHandoffOptions): Promise<HandoffResult> {
  return sender.handoffRequest(req, res, options)
}
