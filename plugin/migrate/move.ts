// Moving every tracked WebSocket to a new sibling: bounded batches (each
// client's pause stays short), sweeps until no connection is new (some finish
// their upgrade during the move), the verdict of each decides who owns it
// (PROTOCOL.md §7: the old process keeps its copy until the new one ACCEPTs),
// and a report of what moved, what stayed and why, and what closed.
import type { EventEmitter } from 'node:events'
import { ERR_HANDOFF_MIGRATE_OPTION } from '../errors.js'
import type { HandoffMeta } from '../protocol/index.js'
import { wsNegotiated, wsSocket } from '../internals.js'
import type { Allowlist } from '../credentials.js'
import type { UnixAddress } from '../unix.js'
import { Sender } from '../sender/handoff.js'
import type { Target, TargetResult } from '../sender/target.js'
import { cutWebSocket, type Cut, type KeptReason } from './cut.js'
import { encodeResume } from './payload.js'
import { stageChannel } from '../trace.js'
import type { Registry, Tracked } from './registry.js'

export interface MoveOptions {
  /** Connections being cut or awaiting their verdict at once (default 8: a client's pause grows with it, the total time does not shrink beyond it; BENCHMARKS.md). */
  concurrency?: number
  /** ms to reach a frame boundary (default 1000). */
  cutTimeout?: number
  /** ms for a connection's write side to drain (default 1000). */
  drainTimeout?: number
  /** ms the new sibling has to decide each connection (the HANDOFF deadline; default 5000). */
  timeout?: number
  /** ms to wait for the new sibling's receiver to answer at all (default 5000). */
  connectTimeout?: number
  /**
   * Further tries, after the sweeps, for the connections that stayed for a
   * passing reason ('mid-frame', 'busy', 'write-backlog'): one that was
   * busy at its turn is often clean a moment later (default 1).
   */
  retries?: number
  /** Whose receiver is trusted with the connections (default: this uid), as a sender's target `allow`. */
  allow?: Allowlist
}

export interface MigrationReport {
  moved: number
  /** Connections that stayed here, by reason (they are served until the hard stop). */
  kept: Partial<Record<KeptReason, number>>
  /** Connections that closed during the move (the client went, or a verdict in doubt). */
  closed: number
  /** ms from the start of the move to its end. */
  ms: number
  /** Passes over the connections (more than 1 when some opened during the move). */
  sweeps: number
}

/** The app's state of one connection (JSON), taken at its cut; `route`: its Fastify route pattern. */
export type StateOf = (ws: EventEmitter, route?: string) => unknown

function keptFor (result: TargetResult): KeptReason {
  const v = result.verdict
  switch (v.outcome) {
    case 'rejected': return 'refused'
    case 'lost': return 'lost'
    case 'timeout': return 'timeout'
    case 'unsent': return (v.error as { code?: string }).code === 'ERR_HANDOFF_TOO_LARGE' ? 'too-large' : 'unavailable'
    default: return 'unavailable'
  }
}

function metaOf (entry: Tracked, cut: Cut, state: unknown): HandoffMeta {
  const { socket } = cut
  const { protocol, extensions } = wsNegotiated(entry.ws)
  const window = entry.window?.snapshot()
  return {
    kind: 'websocket',
    keepAlive: false,
    sentAt: 0,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    family: socket.remoteFamily === 'IPv4' || socket.remoteFamily === 'IPv6' ? socket.remoteFamily : undefined,
    context: entry.context,
    resume: encodeResume({
      protocol,
      extensions,
      ...(window === undefined ? {} : { window }),
      ...(state === undefined ? {} : { state }),
      ...(entry.route === undefined ? {} : { route: entry.route })
    })
  }
}

/** The client's port (the stage channel's key), before any cut. */
function wsPort (entry: Tracked): number | undefined {
  return wsSocket(entry.ws)?.remotePort
}

/** Reasons that may pass by themselves: worth another try at the end of the move. */
const PASSING = new Set<KeptReason>(['mid-frame', 'busy', 'write-backlog'])

class Move {
  readonly report: MigrationReport = { moved: 0, kept: {}, closed: 0, ms: 0, sweeps: 0 }
  /** Set when the new sibling went away: what is not cut yet stays without trying. */
  private down = false
  /** Kept for a passing reason in this round, with that reason (counted only if no try is left). */
  private again: Array<[Tracked, KeptReason]> = []
  private triesLeft: number

  constructor (private readonly registry: Registry, private readonly target: Target,
    private readonly stateOf: StateOf, private readonly options: Required<Omit<MoveOptions, 'allow'>>,
    private readonly onMoved: (ws: EventEmitter) => void) {
    this.triesLeft = options.retries
  }

  private stay (entry: Tracked, reason: KeptReason): void {
    if (this.triesLeft > 0 && PASSING.has(reason)) this.again.push([entry, reason])
    else this.keep(reason)
  }

  keep (reason: KeptReason): void {
    this.report.kept[reason] = (this.report.kept[reason] ?? 0) + 1
  }

  async one (entry: Tracked): Promise<void> {
    if (this.down) return this.keep('unavailable')
    entry.moving = true
    try {
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'cut-start', port: wsPort(entry) })
      const result = await cutWebSocket(entry, this.options)
      if ('closed' in result) {
        this.report.closed++
        return
      }
      if ('kept' in result) return this.stay(entry, result.kept)
      const { cut } = result
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'cut', port: cut.socket.remotePort })
      let meta: HandoffMeta
      try {
        meta = metaOf(entry, cut, this.stateOf(entry.ws, entry.route))
      } catch {
        // The app's state function threw (or returned no JSON): it stays.
        cut.restore()
        return this.keep('refused')
      }
      const sent = await this.target.send({ meta, head: entry.head, buffered: cut.unread }, cut.fd)
      const outcome = sent.verdict.outcome
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'verdict', port: meta.remotePort })
      if (outcome === 'accepted') {
        this.registry.delete(entry.ws)
        cut.release()
        if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'released', port: meta.remotePort })
        this.report.moved++
        this.onMoved(entry.ws)
        return
      }
      if (outcome === 'doubt') {
        cut.drop()
        this.report.closed++
        return
      }
      cut.restore()
      if (outcome === 'lost' || outcome === 'unavailable') this.down = true
      this.keep(keptFor(sent))
    } finally {
      entry.moving = false
    }
  }

  private async batch (batch: Tracked[]): Promise<void> {
    this.report.sweeps++
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < batch.length) await this.one(batch[next++])
    }
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, batch.length) }, worker))
  }

  async run (): Promise<void> {
    const seen = new Set<EventEmitter>()
    for (;;) {
      // Sweeps until no connection is new (upgrades that completed meanwhile).
      const batch = this.registry.untried(seen)
      if (batch.length > 0) {
        for (const entry of batch) seen.add(entry.ws)
        await this.batch(batch)
        continue
      }
      const again = this.again
      this.again = []
      if (again.length === 0) return
      this.triesLeft--
      // Still open and still here: tried again; gone meanwhile: counted as closed.
      const retry = again.filter(([entry]) => this.registry.tracked.has(entry.ws))
      this.report.closed += again.length - retry.length
      await this.batch(retry.map(([entry]) => entry))
    }
  }
}

function positive (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new ERR_HANDOFF_MIGRATE_OPTION(name, 'expected a positive number')
  }
  return value
}

function nonNegativeInteger (name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new ERR_HANDOFF_MIGRATE_OPTION(name, 'expected an integer >= 0')
  return value
}

export function resolveMoveOptions (options: MoveOptions): Required<Omit<MoveOptions, 'allow'>> {
  const concurrency = positive('concurrency', options.concurrency, 8)
  if (!Number.isInteger(concurrency)) throw new ERR_HANDOFF_MIGRATE_OPTION('concurrency', 'expected an integer')
  return {
    concurrency,
    cutTimeout: positive('cutTimeout', options.cutTimeout, 1000),
    drainTimeout: positive('drainTimeout', options.drainTimeout, 1000),
    timeout: positive('timeout', options.timeout, 5000),
    connectTimeout: positive('connectTimeout', options.connectTimeout, 5000),
    retries: options.retries === undefined ? 1 : nonNegativeInteger('retries', options.retries)
  }
}

/** Moves every WebSocket of `registry` to the receiver at `address`. Never rejects for a connection's sake. */
export async function moveAll (registry: Registry, address: UnixAddress, stateOf: StateOf, options: MoveOptions,
  onMoved: (ws: EventEmitter) => void): Promise<MigrationReport> {
  const resolved = resolveMoveOptions(options)
  const start = Date.now()
  const sender = new Sender({
    targets: {
      next: {
        path: address,
        // No target name: the new sibling's receiver serves any.
        receiverTarget: false,
        timeout: resolved.timeout,
        // Once it has answered, a receiver that goes away is not waited for again.
        connectWait: 1,
        ...(options.allow === undefined ? {} : { allow: options.allow })
      }
    }
  })
  const move = new Move(registry, sender.target('next'), stateOf, resolved, onMoved)
  try {
    let timer: NodeJS.Timeout | undefined
    const ready = await Promise.race([
      sender.ready('next').then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), resolved.connectTimeout) })
    ])
    clearTimeout(timer)
    if (!ready) {
      for (const entry of registry.untried(new Set())) {
        void entry
        move.keep('unavailable')
      }
    } else {
      await move.run()
    }
  } finally {
    await sender.close()
  }
  move.report.ms = Date.now() - start
  return move.report
}
