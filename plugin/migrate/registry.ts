// The WebSockets a process may move: every one its WebSocketServer opened or
// resumed, with what a move carries besides the descriptor (the request
// head, the web app's context, the Fastify route, the compression window).
// Forgotten when it closes or moves.
import type { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { wsNegotiated, wsTapInflated } from '../internals.js'
import { handoffInfo } from '../receiver/info.js'
import { requestHead } from '../sender/detach.js'
import { CompressionWindow, clientWindowBits, clientWithoutContext } from './window.js'
import { PMD } from './payload.js'

export interface Tracked {
  ws: EventEmitter
  /** The upgrade request head as the client sent it (the new process's handoffInfo().head). */
  head: Buffer
  /** The web app's context of the original handoff (undefined for a connection accepted locally). */
  context: unknown
  route?: string
  /**
   * 'none': no client context to carry (no compression, or
   * client_no_context_takeover); 'window': kept from the first byte;
   * 'missing': context takeover without a window (not movable).
   */
  compression: 'none' | 'window' | 'missing'
  window?: CompressionWindow
  /** Set while a move of this connection is under way. */
  moving: boolean
}

export class Registry {
  readonly tracked = new Map<EventEmitter, Tracked>()

  /**
   * Starts tracking an open WebSocket (synchronously from 'connection': no
   * message has been inflated yet). `carryWindow`: keep the client's
   * compression window; `seed`: the window it arrived with (a resumed one).
   */
  add (ws: EventEmitter, init: { head: Buffer, context: unknown, route?: string, carryWindow: boolean, seed?: Buffer }): Tracked {
    const { extensions } = wsNegotiated(ws)
    const params = extensions[PMD]
    const entry: Tracked = { ws, head: init.head, context: init.context, compression: 'none', moving: false }
    if (init.route !== undefined) entry.route = init.route
    if (params !== undefined && !clientWithoutContext(params)) {
      if (init.carryWindow) {
        const window = new CompressionWindow(clientWindowBits(params))
        if (init.seed !== undefined) window.push(init.seed)
        wsTapInflated(ws, PMD, (data) => window.push(data))
        entry.window = window
        entry.compression = 'window'
      } else {
        entry.compression = 'missing'
      }
    }
    this.tracked.set(ws, entry)
    ws.once('close', () => this.tracked.delete(ws))
    return entry
  }

  /** A WebSocket a WebSocketServer just opened, from its 'connection' arguments. */
  addFromRequest (ws: EventEmitter, req: IncomingMessage, carryWindow: boolean, route?: string): Tracked {
    const info = handoffInfo(req)
    return this.add(ws, {
      head: info?.head ?? requestHead(req),
      context: info?.context,
      carryWindow,
      ...(route === undefined ? {} : { route })
    })
  }

  delete (ws: EventEmitter): void {
    this.tracked.delete(ws)
  }

  /** Connections not yet tried by this move (`seen`), in the order they opened. */
  untried (seen: Set<EventEmitter>): Tracked[] {
    const out: Tracked[] = []
    for (const [ws, entry] of this.tracked) if (!seen.has(ws) && !entry.moving) out.push(entry)
    return out
  }
}
