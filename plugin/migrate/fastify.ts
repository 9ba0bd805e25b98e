// Live migration for a Fastify sibling with @fastify/websocket: a few lines
// to opt in. Register it after handoffReceiver and @fastify/websocket and
// before the routes; each WebSocket route may say how its connections
// resume (`wsResume`, run instead of the handler for a moved connection) and
// what state they carry (`wsState`). app.handoffMigration.moveTo(path) moves
// every WebSocket to the sibling listening there.
import type { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Receiver } from '../receiver/receiver.js'
import type { ResumeHook } from './adopt.js'
import { Migration, type CompressionMode } from './migration.js'
import type { MoveOptions, StateOf } from './move.js'

export interface HandoffMigrationOptions {
  compression?: CompressionMode
  /** State for WebSockets of routes without their own `wsState`. */
  state?: StateOf
  /** Resume hook for routes without their own `wsResume`. */
  resume?: ResumeHook
  /** Defaults for every moveTo(). */
  move?: MoveOptions
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Moves this app's WebSockets to a new sibling (moveTo), resumes those an old one moves here. */
    readonly handoffMigration: Migration
  }
  interface RouteShorthandOptions {
    /** A WebSocket route's resume hook: runs, instead of the handler, for a connection moved here from an old sibling. */
    wsResume?: ResumeHook
    /** A WebSocket route's state of one connection (JSON), carried to the new sibling. */
    wsState?: (socket: EventEmitter) => unknown
  }
}

/** Our own mark on an upgrade request: which route served it. */
const kRoute = Symbol('fastify-handoff.route')

interface RouteHooks {
  resume?: ResumeHook
  state?: (socket: EventEmitter) => unknown
}

const migrationPlugin: FastifyPluginAsync<HandoffMigrationOptions> = async (app, options) => {
  const routes = new Map<string, RouteHooks>()
  const wss = (app as unknown as { websocketServer: unknown }).websocketServer
  const fallbackResume = options.resume
  const migration = new Migration({
    wss,
    ...(options.compression === undefined ? {} : { compression: options.compression }),
    ...(options.move === undefined ? {} : { move: options.move })
  }, {
    routeOf: (req: IncomingMessage) => (req as unknown as Record<symbol, string | undefined>)[kRoute],
    stateOf: (ws, route) => {
      const own = route === undefined ? undefined : routes.get(route)?.state
      return own !== undefined ? own(ws) : options.state?.(ws, route)
    },
    hookFor: (payload) => {
      const hook = (payload.route === undefined ? undefined : routes.get(payload.route)?.resume) ?? fallbackResume
      if (hook === undefined) return undefined
      return (ws, info) => {
        // As @fastify/websocket does for its own: an error is logged and ends the connection.
        ws.on('error', (err) => {
          app.log.error({ err, route: info.route }, 'resumed WebSocket failed')
          ;(ws as unknown as { terminate: () => void }).terminate()
        })
        hook(ws, info)
      }
    }
  })
  migration.on('error', (err) => app.log.error({ err }, 'resuming a moved WebSocket failed'))
  app.decorate('handoffMigration', migration)

  app.addHook('onRoute', (route) => {
    const r = route as typeof route & { websocket?: boolean, wsResume?: ResumeHook, wsState?: RouteHooks['state'] }
    if (r.websocket !== true || (r.wsResume === undefined && r.wsState === undefined)) return
    routes.set(r.url, {
      ...(r.wsResume === undefined ? {} : { resume: r.wsResume }),
      ...(r.wsState === undefined ? {} : { state: r.wsState })
    })
  })
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.headers.upgrade !== undefined) {
      (request.raw as unknown as Record<symbol, string | undefined>)[kRoute] = request.routeOptions.url
    }
    done()
  })
  app.addHook('onReady', async () => {
    migration.attach((app as unknown as { handoffReceiver?: Receiver | null }).handoffReceiver ?? null)
  })
  app.addHook('onClose', async () => { migration.close() })
}

/**
 * `app.register(handoffMigration, { compression?, state?, resume?, move? })`,
 * after handoffReceiver and @fastify/websocket, before the routes.
 */
export const handoffMigration = fp(migrationPlugin, {
  fastify: '5.x',
  name: 'fastify-handoff-migration',
  dependencies: ['@fastify/websocket']
})
