// The new sibling's side: a HANDOFF of kind "websocket" becomes a ws
// WebSocket again, on the passed descriptor, with the subprotocol and
// extension parameters the old sibling negotiated, without a handshake, and
// the app's resume hook (not 'connection') gets it with its state.
import type { EventEmitter } from 'node:events'
import type net from 'node:net'
import { EMPTY_BUFFER } from '../empty.js'
import { wsAdopt, wsServerOptions, type WsInternals } from '../internals.js'
import type { HandoffRequest } from '../protocol/index.js'
import type { HandoffInfo } from '../receiver/info.js'
import type { Resumer } from '../receiver/receiver.js'
import { rejection } from '../receiver/rejection.js'
import { stageChannel } from '../trace.js'
import { PMD, decodeResume, type ResumePayload } from './payload.js'
import type { Registry } from './registry.js'

/** What a resume hook gets besides the WebSocket. */
export interface ResumeInfo {
  /** The application state the old sibling's `state` function returned (JSON). */
  state: unknown
  /** The upgrade request's path and query, from its request line. */
  url: string
  /** The upgrade request head as the client sent it. */
  head: Buffer
  /** The web app's context of the original handoff (undefined when the first sibling accepted it itself). */
  context: unknown
  /** The Fastify route pattern that served it (Fastify only). */
  route?: string
  /** This move as a handoff (sender pid, timings, addresses). */
  handoff: HandoffInfo
}

export type ResumeHook = (ws: EventEmitter, info: ResumeInfo) => void

export interface ResumerInit {
  ws: WsInternals
  /** The WebSocketServer whose options (and clients set) resumed WebSockets get. */
  wss: unknown
  registry: Registry
  carryWindow: boolean
  /** The hook for a payload, or undefined (REJECTed before the ACCEPT: the old sibling keeps it). */
  hookFor: (payload: ResumePayload) => ResumeHook | undefined
  onError: (err: Error, ws: EventEmitter | null) => void
}

function urlOf (head: Buffer): string {
  const line = head.subarray(0, Math.max(0, head.indexOf('\r\n'))).toString('latin1')
  const parts = line.split(' ')
  return parts.length >= 3 ? parts[1] : '/'
}

export function createResumer (init: ResumerInit): Resumer {
  const decoded = new WeakMap<HandoffRequest, ResumePayload>()
  return {
    check (request) {
      const payload = decodeResume(request.meta.resume ?? {})
      if (init.hookFor(payload) === undefined) {
        throw rejection('internal', `no resume hook${payload.route === undefined ? '' : ` for route ${payload.route}`}`)
      }
      decoded.set(request, payload)
    },
    resume (socket: net.Socket, info: HandoffInfo, request: HandoffRequest) {
      const payload = decoded.get(request) ?? decodeResume(request.meta.resume ?? {})
      const hook = init.hookFor(payload) as ResumeHook
      const params = payload.extensions[PMD]
      // The dictionary only with context takeover: ws resets an inflater
      // without it after every message, and zlib would re-apply it then.
      const dictionary = params !== undefined && params.client_no_context_takeover !== true &&
        payload.window !== undefined && payload.window.length > 0
        ? payload.window
        : undefined
      // The bytes the old sibling had read are already in front of the socket's stream (receiver.ts).
      const ws = wsAdopt(init.ws, wsServerOptions(init.wss), socket, EMPTY_BUFFER,
        { protocol: payload.protocol, extensions: payload.extensions }, dictionary)
      init.registry.add(ws, {
        head: request.head,
        context: request.meta.context,
        carryWindow: init.carryWindow,
        ...(payload.route === undefined ? {} : { route: payload.route }),
        ...(payload.window === undefined ? {} : { seed: payload.window })
      })
      // Counted as WebSocketServer counts its own (its close() and @fastify/websocket's preClose close them).
      const clients = (init.wss as { clients?: Set<EventEmitter> }).clients
      if (clients !== undefined) {
        clients.add(ws)
        ws.once('close', () => clients.delete(ws))
      }
      try {
        hook(ws, {
          state: payload.state,
          url: urlOf(request.head),
          head: request.head,
          context: request.meta.context,
          ...(payload.route === undefined ? {} : { route: payload.route }),
          handoff: info
        })
      } catch (err) {
        init.onError(err as Error, ws)
      }
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'resumed', port: request.meta.remotePort })
    }
  }
}
