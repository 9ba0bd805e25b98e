// The whole flow for one connection, framework-free: detach it, offer it to a
// target, wait for the verdict, then either let it go (ACCEPT: close our copy
// with the handle's close) or keep it and answer the client ourselves (the
// fallback). Ownership rules: PROTOCOL.md §7 and docs/sender.md.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import {
  ERR_HANDOFF_IN_PROGRESS, ERR_HANDOFF_REJECTED, ERR_HANDOFF_SENDER_CLOSED, ERR_HANDOFF_SENDER_OPTION,
  ERR_HANDOFF_UNKNOWN_TARGET, ERR_HANDOFF_UNTRUSTED_RECEIVER
} from '../errors.js'
import type { UnixAddress } from '../unix.js'
import { detachRequest, detachUpgrade, type Detached } from './detach.js'
import { respondUnavailable, writeUnavailable } from './fallback.js'
import { Target, resolveTargetOptions, type BalancePolicy, type TargetHealth, type TargetOptions } from './target.js'
import type { Verdict } from './link.js'
import { MAX_NAME_LENGTH, isProtocolName, type HandoffMeta } from '../protocol/index.js'
import { defaultLogger, type HandoffLogger } from '../logger.js'
import { stageChannel } from '../trace.js'
import { SenderCounters, type SenderStats, type TargetCounters } from '../metrics/sender-stats.js'
import { registerSenderMetrics } from '../metrics/sender-prometheus.js'
import type { MetricsOptions } from '../metrics/prometheus.js'

/** The 0.1 name of HandoffLogger (plugin/logger.ts): pino's, fastify.log, request.log. */
export type SenderLogger = HandoffLogger

export interface SenderOptions {
  /** Named targets: a path, a list of paths (a pool), or full options. */
  targets: Record<string, TargetOptions | UnixAddress | UnixAddress[]>
  /** Defaults for every target. */
  timeout?: number
  grace?: number
  retryAfter?: number
  balance?: BalancePolicy
  connectWait?: number
  helloTimeout?: number
  frameTimeout?: number
  reconnect?: { min?: number, max?: number }
  /** Name sent in our HELLO (the receiver's logs). */
  name?: string
  /**
   * Where link-level events go (receivers going down, protocol violations)
   * and, unless a handoff names its own, each handoff's failure. Default:
   * silent, or NODE_DEBUG=handoff.
   */
  log?: HandoffLogger
  /** Register Prometheus collectors of stats() with this prom-client registry (docs/metrics.md). */
  metrics?: MetricsOptions
}

export type HandoffOutcome =
  | 'accepted' | 'rejected' | 'unavailable' | 'timeout' | 'lost' | 'unsent' | 'refused' | 'doubt' | 'closed'

export interface HandoffResult {
  /** The receiver owns the connection now. */
  handedOff: boolean
  outcome: HandoffOutcome
  target: string
  /** The receiver that gave the final verdict. */
  receiver?: string
  /** Why the connection stayed here (or, for 'doubt', why it was closed unanswered). */
  error?: Error
  /** The HANDOFF's id on the channel to `receiver` (the receiver's logs and 'reject' event name it too). */
  handoffId?: number
  /** What was done with a connection that stayed: the 503, the caller's local handler, or nothing (doubt). */
  fallback?: 'unavailable' | 'local' | 'none'
}

export interface HandoffOptions {
  target: string
  /** JSON-serialisable; the receiver's handoffInfo(request).context. */
  context?: unknown
  /** The URL for the replayed request line (default req.url). */
  url?: string
  /** Where to log this handoff's failure (request.log). Default: the sender's `log`. */
  log?: HandoffLogger
}

export interface UpgradeHandoffOptions extends HandoffOptions {
  /**
   * What to do with an upgrade that stays here: 'unavailable' (default) writes
   * a 503 with Retry-After on the raw socket; a function serves it locally
   * (the socket is reading again, `head` is as it came).
   */
  fallback?: 'unavailable' | ((result: HandoffResult) => void | Promise<void>)
}

/**
 * Who serves the requests that follow a handed-off request on its
 * connection: 'close' (default): nobody there; the receiver serves the
 * handed-off request with `Connection: close`, and the client sends its next
 * request on a new connection, to this app, through its hooks. 'sibling':
 * the receiver serves them too, on a persistent connection, without this
 * app ever seeing them (the sibling must authenticate them itself; it tells
 * them apart with handoffInfo(req).requestNumber).
 */
export type LaterRequests = 'close' | 'sibling'

export interface RequestHandoffOptions extends HandoffOptions {
  /** Who serves the later requests on the connection (default 'close'). */
  laterRequests?: LaterRequests
  /**
   * What to do with a request that stays here: 'unavailable' (default)
   * answers 503 + Retry-After through `res` (the connection stays usable); a
   * function serves it locally.
   */
  fallback?: 'unavailable' | ((result: HandoffResult) => void | Promise<void>)
}

/** A second handoff of a connection already on its way: the first one decides, this one touches nothing. */
function inProgress (err: unknown): boolean {
  return err instanceof ERR_HANDOFF_IN_PROGRESS
}

function outcomeError (target: string, verdict: Verdict | { outcome: 'unavailable', error: Error }, receiver?: string): Error | undefined {
  if (verdict.outcome === 'accepted') return undefined
  if (verdict.outcome === 'rejected') {
    return Object.assign(new ERR_HANDOFF_REJECTED(receiver ?? target, verdict.reason, verdict.message), {
      reason: verdict.reason, retryable: verdict.retryable
    })
  }
  return verdict.error
}

export class Sender {
  private readonly targets = new Map<string, Target>()
  private readonly log: HandoffLogger
  private closing = false
  private readonly active = new Set<Promise<unknown>>()
  /** Connections between detach and verdict: a second handoff of one of them is refused. */
  private readonly busy = new WeakSet<net.Socket>()
  /** stats(): counted where each handoff ends, read by stats() and the Prometheus collectors. */
  private readonly counters: SenderCounters

  constructor (options: SenderOptions) {
    if (typeof options !== 'object' || options === null || typeof options.targets !== 'object' || options.targets === null) {
      throw new ERR_HANDOFF_SENDER_OPTION('targets', 'expected an object of named targets')
    }
    this.log = options.log ?? defaultLogger()
    if (options.name !== undefined && !isProtocolName(options.name)) {
      // It goes in every HELLO: refused here, not as an error inside a reconnect loop.
      throw new ERR_HANDOFF_SENDER_OPTION('name', `expected a string of 1 to ${MAX_NAME_LENGTH} characters`)
    }
    const defaults = {
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
      ...(options.grace === undefined ? {} : { grace: options.grace }),
      ...(options.retryAfter === undefined ? {} : { retryAfter: options.retryAfter }),
      ...(options.balance === undefined ? {} : { balance: options.balance }),
      ...(options.connectWait === undefined ? {} : { connectWait: options.connectWait }),
      ...(options.helloTimeout === undefined ? {} : { helloTimeout: options.helloTimeout }),
      ...(options.frameTimeout === undefined ? {} : { frameTimeout: options.frameTimeout }),
      ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
      ...(options.name === undefined ? {} : { name: options.name })
    }
    for (const [name, target] of Object.entries(options.targets)) {
      if (name.length === 0) throw new ERR_HANDOFF_SENDER_OPTION('targets', 'a target needs a name')
      this.targets.set(name, new Target(name, resolveTargetOptions(name, target, defaults)))
    }
    this.counters = new SenderCounters([...this.targets].map(([name, target]) => [name, target.links.map((link) => link.label)]))
    // Before any receiver is connected: a bad option leaves nothing running.
    if (options.metrics !== undefined) registerSenderMetrics(this, options.metrics)
    for (const target of this.targets.values()) {
      const counters = this.counters.targets.get(target.name) as TargetCounters
      for (const link of target.links) {
        const log = this.log.child({ target: target.name, receiver: link.label })
        link.on('ready', () => counters.connects.set(link.label, (counters.connects.get(link.label) ?? 0) + 1))
        link.on('down', (err) => {
          // An untrusted receiver is logged once, by 'untrusted', not on every reconnect that finds it.
          if (err instanceof ERR_HANDOFF_UNTRUSTED_RECEIVER) return
          log.warn({ err }, 'handoff receiver unavailable')
        })
        link.on('untrusted', (err, peer) => log.warn({ peer, err }, err.message))
        link.on('ready', () => log.info({}, 'handoff receiver connected'))
        link.on('warning', (err) => log.warn({ err }, 'handoff receiver problem'))
        link.on('violation', (err) => log.error({ err }, 'handoff receiver broke the protocol'))
      }
      target.start()
    }
  }

  get closed (): boolean { return this.closing }

  names (): string[] { return [...this.targets.keys()] }

  has (name: string): boolean { return this.targets.has(name) }

  target (name: string): Target {
    const target = this.targets.get(name)
    if (target === undefined) throw new ERR_HANDOFF_UNKNOWN_TARGET(name)
    return target
  }

  /**
   * Resolves once `target` (or every target) has a receiver taking handoffs;
   * never rejects (race it with a timer for a readiness probe).
   */
  async ready (target?: string): Promise<void> {
    const targets = target === undefined ? [...this.targets.values()] : [this.target(target)]
    await Promise.all(targets.map((t) => t.whenHealthy()))
  }

  health (): Record<string, TargetHealth> {
    const out: Record<string, TargetHealth> = {}
    for (const [name, target] of this.targets) out[name] = target.health()
    return out
  }

  /** What this sender counted since it was built, and its receivers' load now (docs/metrics.md). */
  stats (): SenderStats {
    return this.counters.snapshot((name) => (this.targets.get(name) as Target).links.map((link) => ({
      label: link.label, live: link.load.live, up: link.usable
    })))
  }

  /**
   * The core: offers a detached connection to `target` and settles it:
   * ACCEPT → released (our copy closed); doubt → released unanswered;
   * anything else → restored (reading again, ours) and the caller falls back.
   */
  async send (detached: Detached, options: HandoffOptions & { laterRequests?: LaterRequests }): Promise<HandoffResult> {
    const name = options.target
    if (this.closing) {
      detached.restore()
      this.counters.endedEarly(name, 'closed')
      return { handedOff: false, outcome: 'closed', target: name, error: new ERR_HANDOFF_SENDER_CLOSED() }
    }
    const target = this.targets.get(name)
    if (target === undefined) {
      // Detached already: give it back before saying why.
      detached.restore()
      this.counters.unknownTarget++
      throw new ERR_HANDOFF_UNKNOWN_TARGET(name)
    }
    const count = this.counters.targets.get(name) as TargetCounters
    this.busy.add(detached.socket)
    const { address } = detached
    // One literal with every key (one object shape), not spreads: once per handoff.
    const meta: HandoffMeta = {
      kind: detached.kind,
      // The receiver's leave to serve later requests: the app's opt-in, on a
      // connection that may carry them. Never for an upgrade.
      keepAlive: detached.kind === 'request' && detached.keepAlive && options.laterRequests === 'sibling',
      sentAt: 0,
      remoteAddress: address.remoteAddress,
      remotePort: address.remotePort,
      localAddress: address.localAddress,
      localPort: address.localPort,
      family: address.family,
      context: options.context
    }
    const started = performance.now()
    count.inFlight++
    const work = target.send({ meta, head: detached.head, buffered: detached.buffered }, detached.fd)
    this.active.add(work)
    let result
    try {
      result = await work
    } finally {
      count.inFlight--
      this.active.delete(work)
      this.busy.delete(detached.socket)
    }
    const { verdict, receiver } = result
    count.latency.observe((performance.now() - started) / 1000)
    count.ended(verdict.outcome, verdict.outcome === 'rejected' ? verdict.reason : undefined)
    if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'verdict', port: address.remotePort })
    const base = {
      target: name,
      ...(receiver === undefined ? {} : { receiver }),
      ...('id' in verdict && verdict.id !== undefined ? { handoffId: verdict.id } : {})
    }
    if (verdict.outcome === 'accepted') {
      detached.release()
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'released', port: address.remotePort })
      return { handedOff: true, outcome: 'accepted', ...base }
    }
    const error = outcomeError(name, verdict, receiver) as Error
    if (verdict.outcome === 'doubt') {
      // Nobody can say whether the receiver took it (PROTOCOL.md §7, sender
      // 8): close our copy without writing; never risk two writers.
      detached.release()
      count.fallbacks.none++
      return { handedOff: false, outcome: 'doubt', ...base, error, fallback: 'none' }
    }
    detached.restore()
    return { handedOff: false, outcome: verdict.outcome, ...base, error }
  }

  /**
   * An HTTP upgrade ('upgrade' event arguments): hand it off before any 101,
   * or answer it here (503 + Retry-After on the raw socket, or `fallback`).
   * Never rejects; the result says what happened.
   */
  async handoffUpgrade (req: IncomingMessage, socket: net.Socket, head: Buffer, options: UpgradeHandoffOptions): Promise<HandoffResult> {
    if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'start', port: socket.remotePort })
    return await this.handOff(options, socket, () => {
      if (this.busy.has(socket)) throw new ERR_HANDOFF_IN_PROGRESS()
      return detachUpgrade(req, socket, head, options.url === undefined ? {} : { url: options.url })
    }, () => writeUnavailable(socket, { retryAfter: this.retryAfter(options.target) }))
  }

  /**
   * An ordinary request whose response has not started (SSE, streaming, long
   * polling): the receiver writes this response on the connection, and the
   * later requests on it come back here on a new connection unless
   * `laterRequests` is 'sibling'. Otherwise answered here (503 + Retry-After
   * through `res`, or `fallback`). Never rejects.
   */
  async handoffRequest (req: IncomingMessage, res: ServerResponse, options: RequestHandoffOptions): Promise<HandoffResult> {
    if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'start', port: req.socket?.remotePort })
    return await this.handOff(options, req.socket, async () => {
      const later = options.laterRequests
      if (later !== undefined && later !== 'close' && later !== 'sibling') {
        throw new ERR_HANDOFF_SENDER_OPTION('laterRequests', 'expected \'close\' or \'sibling\'')
      }
      if (req.socket !== null && this.busy.has(req.socket)) throw new ERR_HANDOFF_IN_PROGRESS()
      if (req.socket !== null) this.busy.add(req.socket)
      try {
        return await detachRequest(req, res, options.url === undefined ? {} : { url: options.url })
      } finally {
        if (req.socket !== null) this.busy.delete(req.socket)
      }
    }, () => respondUnavailable(res, { retryAfter: this.retryAfter(options.target) }))
  }

  /**
   * The flow both kinds share: detach (or refuse with a typed error and
   * answer here), send, settle who owns the connection, fall back if it stays.
   */
  private async handOff (options: UpgradeHandoffOptions | RequestHandoffOptions, client: net.Socket | null,
    detach: () => Detached | Promise<Detached>, unavailable: () => unknown): Promise<HandoffResult> {
    const log = options.log ?? this.log
    let detached: Detached
    try {
      if (!this.has(options.target)) throw new ERR_HANDOFF_UNKNOWN_TARGET(options.target)
      const pending = detach()
      // An upgrade detaches synchronously: no await, so that it reaches
      // send() (which marks the socket busy) in the same tick.
      detached = pending instanceof Promise ? await pending : pending
      if (stageChannel.hasSubscribers) stageChannel.publish({ stage: 'detached', port: detached.address.remotePort })
    } catch (err) {
      const result: HandoffResult = { handedOff: false, outcome: 'refused', target: options.target, error: err as Error }
      this.counters.endedEarly(options.target, 'refused')
      // One line for the failure: the connection is named by the request's
      // logger (request.log's reqId) or, outside Fastify, by its client.
      // (error: the app routed a connection that can never be handed off).
      log.error({ err, outcome: 'refused', target: options.target, client: clientOf(client) },
        'connection cannot be handed off')
      if (inProgress(err)) {
        const counters = this.counters.targets.get(options.target)
        if (counters !== undefined) counters.fallbacks.none++
        return { ...result, fallback: 'none' }
      }
      return await this.fallBack(result, options.fallback, unavailable, log)
    }
    const result = await this.send(detached, options)
    return await this.conclude(result, log, clientOf(detached.socket), options.fallback, unavailable)
  }

  /**
   * Stops taking handoffs, says GOODBYE to every receiver, waits for the
   * verdicts in flight (bounded by their deadlines), closes the channels.
   */
  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    await Promise.allSettled([...this.active])
    await Promise.all([...this.targets.values()].map((target) => target.close()))
  }

  private retryAfter (name: string): number {
    return this.targets.get(name)?.options.retryAfter ?? 5
  }

  /** One line per failure (warn; error when the connection was closed unanswered), nothing at info for a success. */
  private async conclude (result: HandoffResult, log: HandoffLogger, client: string | undefined,
    fallback: UpgradeHandoffOptions['fallback'], unavailable: () => unknown): Promise<HandoffResult> {
    const fields = { target: result.target, receiver: result.receiver, handoffId: result.handoffId, client }
    if (result.handedOff) {
      log.debug(fields, 'connection handed off')
      return result
    }
    if (result.outcome === 'doubt') {
      log.error({ err: result.error, outcome: result.outcome, ...fields },
        'handoff in doubt (the receiver broke the protocol or the sender was closed): connection closed unanswered')
      return result
    }
    log.warn({ err: result.error, outcome: result.outcome, ...fields }, 'handoff failed; the connection falls back here')
    return await this.fallBack(result, fallback, unavailable, log)
  }

  private async fallBack (result: HandoffResult, fallback: UpgradeHandoffOptions['fallback'],
    unavailable: () => unknown, log: HandoffLogger): Promise<HandoffResult> {
    const counters = this.counters.targets.get(result.target)
    if (typeof fallback === 'function') {
      if (counters !== undefined) counters.fallbacks.local++
      result.fallback = 'local'
      try {
        await fallback(result)
      } catch (err) {
        log.error({ err, target: result.target }, 'the local fallback of a handoff failed; answered 503 instead')
        void unavailable()
      }
      return result
    }
    if (counters !== undefined) counters.fallbacks.unavailable++
    result.fallback = 'unavailable'
    void unavailable()
    return result
  }
}

/** The client end of a connection, as a log names it ("address:port"). */
function clientOf (socket: net.Socket | null | undefined): string | undefined {
  if (socket === null || socket === undefined || socket.remoteAddress === undefined) return undefined
  return `${socket.remoteAddress}:${String(socket.remotePort)}`
}

/** Creates a sender and starts connecting to every receiver of every target. */
export function createSender (options: SenderOptions): Sender {
  return new Sender(options)
}
