// One process's side of live migration, for a ws WebSocketServer (plain, or
// the one @fastify/websocket makes): it tracks every WebSocket the server
// opens, moves them to a new sibling on moveTo(), and, as the new sibling,
// resumes the ones an old sibling moves to it. The same code runs in both
// versions: every deploy is "the old one moves to the new one".
import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { ERR_HANDOFF_MIGRATE_BUSY, ERR_HANDOFF_MIGRATE_OPTION } from '../errors.js'
import { wsImposeNoClientContext, wsInternals, wsServerOptions, wsSocket, type WsInternals } from '../internals.js'
import type { Receiver } from '../receiver/receiver.js'
import type { UnixAddress } from '../unix.js'
import { createResumer, type ResumeHook } from './adopt.js'
import { moveAll, resolveMoveOptions, type MigrationReport, type MoveOptions, type StateOf } from './move.js'
import type { ResumePayload } from './payload.js'
import { Registry } from './registry.js'
import { countMigration } from '../metrics/deploy.js'

/**
 * How permessage-deflate connections move: 'no-context' (default) makes the
 * server impose client_no_context_takeover whenever it negotiates
 * compression, so no window is ever needed; 'carry-window' lets clients keep
 * their context and carries the last 2^bits inflated bytes of each (memory:
 * that much per compressed connection).
 */
export type CompressionMode = 'no-context' | 'carry-window'

export interface MigrationOptions {
  /** The WebSocketServer whose connections move (and which resumes moved ones). */
  wss: unknown
  /** This process's receiver, to resume WebSockets an older sibling moves here. */
  receiver?: Receiver | null
  /** The app's state of one connection, as JSON, taken at its cut. */
  state?: StateOf
  /** Runs on the new side instead of 'connection' for every resumed WebSocket. */
  resume?: ResumeHook
  compression?: CompressionMode
  /** Defaults for every moveTo(). */
  move?: MoveOptions
}

/** The WebSocket's route, for per-route hooks (Fastify); undefined elsewhere. */
export type RouteOf = (req: IncomingMessage) => string | undefined

export interface MigrationEvents {
  /** A WebSocket now lives in the new sibling (the old side's distinct outcome: no 'close'). */
  migrated: [ws: EventEmitter]
  /** A resumed WebSocket's hook threw (it was terminated), or a resume failed. */
  error: [err: Error]
}

export class Migration extends EventEmitter<MigrationEvents> {
  readonly compression: CompressionMode
  private readonly registry = new Registry()
  private readonly ws: WsInternals
  private readonly wss: EventEmitter
  private readonly stateOf: StateOf
  private readonly defaults: MoveOptions
  private receiver: Receiver | null = null
  private running = false
  private readonly onConnection: (ws: EventEmitter, req: IncomingMessage) => void

  constructor (options: MigrationOptions, internals: {
    routeOf?: RouteOf
    hookFor?: (payload: ResumePayload) => ResumeHook | undefined
    stateOf?: StateOf
  } = {}) {
    super()
    if (typeof options !== 'object' || options === null) throw new ERR_HANDOFF_MIGRATE_OPTION('options', 'expected an object')
    const { wss } = options
    if (typeof wss !== 'object' || wss === null || typeof (wss as EventEmitter).on !== 'function') {
      throw new ERR_HANDOFF_MIGRATE_OPTION('wss', 'expected a ws WebSocketServer')
    }
    const compression = options.compression ?? 'no-context'
    if (compression !== 'no-context' && compression !== 'carry-window') {
      throw new ERR_HANDOFF_MIGRATE_OPTION('compression', 'expected \'no-context\' or \'carry-window\'')
    }
    for (const name of ['state', 'resume'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') throw new ERR_HANDOFF_MIGRATE_OPTION(name, 'expected a function')
    }
    resolveMoveOptions(options.move ?? {})
    this.compression = compression
    this.ws = wsInternals(wsServerOptions(wss).WebSocket)
    this.wss = wss as EventEmitter
    this.defaults = options.move ?? {}
    const stateOf = internals.stateOf ?? options.state
    this.stateOf = stateOf ?? (() => undefined)
    if (compression === 'no-context') wsImposeNoClientContext(wss)
    const carryWindow = compression === 'carry-window'
    const routeOf = internals.routeOf
    this.onConnection = (ws, req) => {
      this.registry.addFromRequest(ws, req, carryWindow, routeOf?.(req))
    }
    // Prepended: the window must be tapped before the app's listener could
    // let a message through (it cannot before this turn ends, but an app
    // 'connection' listener that throws must not leave one untracked).
    this.wss.prependListener('connection', this.onConnection)
    const hook = options.resume
    const hookFor = internals.hookFor ?? (() => hook)
    this.resumer = createResumer({
      ws: this.ws,
      wss,
      registry: this.registry,
      carryWindow,
      hookFor,
      onError: (err, ws) => {
        if (ws !== null) (ws as unknown as { terminate?: () => void }).terminate?.()
        if (this.listenerCount('error') > 0) this.emit('error', err)
      }
    })
    if (options.receiver !== undefined && options.receiver !== null) this.attach(options.receiver)
  }

  private readonly resumer: ReturnType<typeof createResumer>

  /** Resume WebSockets that an older sibling moves to `receiver` (null: stop). */
  attach (receiver: Receiver | null): void {
    if (this.receiver !== null) this.receiver.setResumer(null)
    this.receiver = receiver
    if (receiver !== null) receiver.setResumer(this.resumer)
  }

  /** WebSockets this process would move now. */
  get size (): number {
    return this.registry.tracked.size
  }

  /**
   * Moves every WebSocket to the sibling whose receiver listens at
   * `address`. Resolves with the report once each one has moved, stayed or
   * closed; the ones that stayed are served here until closeKept().
   */
  async moveTo (address: UnixAddress, options: MoveOptions = {}): Promise<MigrationReport> {
    if (this.running) throw new ERR_HANDOFF_MIGRATE_BUSY()
    this.running = true
    try {
      const report = await moveAll(this.registry, address, this.stateOf, { ...this.defaults, ...options }, (ws) => {
        ws.emit('migrated')
        this.emit('migrated', ws)
      })
      countMigration(report)
      return report
    } finally {
      this.running = false
    }
  }

  /**
   * The hard stop: closes every WebSocket still here with `code` (1012,
   * Service Restart), and terminates those whose closing handshake has not
   * finished after `timeout` ms. Resolves with how many it closed.
   */
  async closeKept (options: { code?: number, reason?: string, timeout?: number } = {}): Promise<number> {
    const code = options.code ?? 1012
    const reason = options.reason ?? 'Service Restart'
    const entries = [...this.registry.tracked.keys()]
    await Promise.all(entries.map(async (ws) => {
      const w = ws as unknown as { readyState: number, close: (c: number, r: string) => void, terminate: () => void }
      if (w.readyState === 3) return
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
      w.close(code, reason)
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, options.timeout ?? 5000) })
      await Promise.race([closed, late])
      clearTimeout(timer)
      if (wsSocket(ws) !== null && w.readyState !== 3) w.terminate()
    }))
    return entries.length
  }

  /** Stops tracking and resuming (connections are left as they are). */
  close (): void {
    this.wss.removeListener('connection', this.onConnection)
    this.attach(null)
  }
}

/** Live migration for a plain ws WebSocketServer (create it before the server takes connections). */
export function wsMigration (options: MigrationOptions): Migration {
  return new Migration(options)
}
