// A named target: one receiver path, or several (a pool of sibling
// processes), a balancing policy over them, and its health. A handoff that a
// receiver turns down while the connection is still ours (a retryable REJECT,
// a frame that never arrived, a channel that ended) is offered to the next
// receiver of the pool before anyone falls back.
import type { UnixAddress } from '../unix.js'
import { credentialPolicy, type Allowlist } from '../credentials.js'
import { DEFAULT_FRAME_TIMEOUT_MS, MAX_NAME_LENGTH, MAX_TIMEOUT_MS, isProtocolName, type HandoffRequest } from '../protocol/index.js'
import { ERR_HANDOFF_INVALID_ARG, ERR_HANDOFF_SENDER_OPTION, ERR_HANDOFF_TOO_LARGE, ERR_HANDOFF_UNAVAILABLE } from '../errors.js'
import { Link, type LinkHealth, type LinkOptions, type Verdict } from './link.js'

export type BalancePolicy = 'round-robin' | 'least-connections'

/** Frames no receiver of the pool would get either: too large, or a context that is not JSON. */
function finalUnsent (err: Error): boolean {
  return err instanceof ERR_HANDOFF_TOO_LARGE || err instanceof ERR_HANDOFF_INVALID_ARG
}

export interface TargetOptions {
  /** One receiver's Unix socket path (or `{ abstract }` name), or several: a pool. */
  path: UnixAddress | UnixAddress[]
  /** How a pool picks a receiver; default 'round-robin'. */
  balance?: BalancePolicy
  /** ms a receiver has to decide (the HANDOFF deadline); default 5000. */
  timeout?: number
  /** ms after the deadline before the sender gives the handoff up and answers itself; default 1000. */
  grace?: number
  /** Seconds for the Retry-After of the 503 fallback; default 5. */
  retryAfter?: number
  /** The `target` named in each HANDOFF (which of the receiver's targets serves it); default: this target's name. `false`: none. */
  receiverTarget?: string | false
  /** ms a handoff waits for a receiver that is still connecting; default 1000. */
  connectWait?: number
  helloTimeout?: number
  /** ms a frame from a receiver may take from its first byte to its last; default 5000. */
  frameTimeout?: number
  reconnect?: { min?: number, max?: number }
  /**
   * Whose receiver this target trusts with its connections, by the kernel's
   * credentials of the process listening on `path`: a receiver matching any
   * uid or gid. Default: only this process's own uid. Any other is closed
   * before a byte goes out (ERR_HANDOFF_UNTRUSTED_RECEIVER).
   */
  allow?: Allowlist
}

export interface TargetHealth {
  name: string
  /** At least one receiver takes handoffs now. */
  healthy: boolean
  balance: BalancePolicy
  receivers: LinkHealth[]
}

/** What a target made of one handoff: the verdict that ended it, and the receiver that gave it. */
export interface TargetResult {
  verdict: Verdict | { outcome: 'unavailable', error: Error }
  receiver?: string
  /** Receivers tried, in order. */
  tried: string[]
}

export interface ResolvedTargetOptions {
  addresses: UnixAddress[]
  balance: BalancePolicy
  timeout: number
  grace: number
  retryAfter: number
  receiverTarget: string | undefined
  connectWait: number
  link: Omit<LinkOptions, 'address'>
}

function positive (name: string, value: unknown, fallback: number, allowZero = false, max = Number.MAX_VALUE): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0) || value > max) {
    throw new ERR_HANDOFF_SENDER_OPTION(name,
      `expected a ${allowZero ? 'non-negative' : 'positive'} number${max < Number.MAX_VALUE ? ` of at most ${max}` : ''}, got ${String(value)}`)
  }
  return value
}

/** Milliseconds that a timer waits: beyond MAX_TIMEOUT_MS Node would fire it after 1 ms. */
function duration (name: string, value: unknown, fallback: number, allowZero = false): number {
  return positive(name, value, fallback, allowZero, MAX_TIMEOUT_MS)
}

function isAddress (value: unknown): value is UnixAddress {
  return (typeof value === 'string' && value.length > 0) ||
    (typeof value === 'object' && value !== null && typeof (value as { abstract?: unknown }).abstract === 'string' &&
      (value as { abstract: string }).abstract.length > 0)
}

export function resolveTargetOptions (name: string, options: TargetOptions | UnixAddress | UnixAddress[],
  defaults: Partial<TargetOptions> & { name?: string } = {}): ResolvedTargetOptions {
  const o: TargetOptions = typeof options === 'string' || Array.isArray(options) || (typeof options === 'object' && options !== null && 'abstract' in options)
    ? { path: options as UnixAddress | UnixAddress[] }
    : options as TargetOptions
  if (typeof o !== 'object' || o === null) throw new ERR_HANDOFF_SENDER_OPTION(`targets.${name}`, 'expected a path, a list of paths or an object')
  const addresses = Array.isArray(o.path) ? o.path : [o.path]
  if (addresses.length === 0 || !addresses.every(isAddress)) {
    throw new ERR_HANDOFF_SENDER_OPTION(`targets.${name}.path`, 'expected a Unix socket path, { abstract: name }, or a non-empty list of them')
  }
  const balance = o.balance ?? defaults.balance ?? 'round-robin'
  if (balance !== 'round-robin' && balance !== 'least-connections') {
    throw new ERR_HANDOFF_SENDER_OPTION(`targets.${name}.balance`, 'expected "round-robin" or "least-connections"')
  }
  const receiverTarget = o.receiverTarget ?? defaults.receiverTarget ?? name
  if (receiverTarget !== false && !isProtocolName(receiverTarget)) {
    throw new ERR_HANDOFF_SENDER_OPTION(`targets.${name}.receiverTarget`, `expected a string of 1 to ${MAX_NAME_LENGTH} characters, or false`)
  }
  const reconnect = o.reconnect ?? defaults.reconnect
  return {
    addresses,
    balance,
    timeout: duration(`targets.${name}.timeout`, o.timeout, duration('timeout', defaults.timeout, 5000)),
    grace: duration(`targets.${name}.grace`, o.grace, duration('grace', defaults.grace, 1000, true), true),
    retryAfter: positive(`targets.${name}.retryAfter`, o.retryAfter, positive('retryAfter', defaults.retryAfter, 5, true), true),
    receiverTarget: receiverTarget === false ? undefined : receiverTarget,
    connectWait: duration(`targets.${name}.connectWait`, o.connectWait, duration('connectWait', defaults.connectWait, 1000, true), true),
    link: {
      ...(defaults.name === undefined ? {} : { name: defaults.name }),
      helloTimeout: duration(`targets.${name}.helloTimeout`, o.helloTimeout, duration('helloTimeout', defaults.helloTimeout, 5000)),
      frameTimeout: duration(`targets.${name}.frameTimeout`, o.frameTimeout,
        duration('frameTimeout', defaults.frameTimeout, DEFAULT_FRAME_TIMEOUT_MS)),
      policy: credentialPolicy(o.allow, `targets.${name}.allow`, (option, reason) => new ERR_HANDOFF_SENDER_OPTION(option, reason)),
      ...(reconnect === undefined ? {} : { reconnect })
    }
  }
}

export class Target {
  readonly name: string
  readonly options: ResolvedTargetOptions
  readonly links: readonly Link[]
  private cursor = 0

  constructor (name: string, options: ResolvedTargetOptions) {
    this.name = name
    this.options = options
    this.links = options.addresses.map((address) => new Link({ ...options.link, address }))
  }

  /** Connects every receiver of the pool (each keeps reconnecting on its own). */
  start (): void {
    for (const link of this.links) link.start()
  }

  /** A receiver takes handoffs now, or is handing its socket over to a new sibling (handoffs wait for it). */
  get healthy (): boolean {
    return this.links.some((link) => link.usable || link.handingOverNow)
  }

  /** Resolves once a receiver of the pool takes handoffs (at once if one does now). */
  whenHealthy (): Promise<void> {
    if (this.healthy) return Promise.resolve()
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.healthy) return
        for (const link of this.links) {
          link.removeListener('ready', check)
          link.removeListener('load', check)
        }
        resolve()
      }
      for (const link of this.links) {
        link.on('ready', check)
        link.on('load', check)
      }
    })
  }

  health (): TargetHealth {
    return {
      name: this.name,
      healthy: this.healthy,
      balance: this.options.balance,
      receivers: this.links.map((link) => link.health())
    }
  }

  /** The receiver for the next handoff, among those not tried yet. */
  pick (exclude: ReadonlySet<Link> = new Set()): Link | null {
    const candidates: Link[] = []
    const n = this.links.length
    // Round-robin order from the cursor: also the tie-break for least-connections.
    for (let i = 0; i < n; i++) {
      const link = this.links[(this.cursor + i) % n]
      if (link.usable && !exclude.has(link)) candidates.push(link)
    }
    if (candidates.length === 0) return null
    let chosen = candidates[0]
    if (this.options.balance === 'least-connections') {
      // What the receiver last reported (STATUS, ACCEPT) plus what is on its
      // way to it; one at its limit comes last (it would REJECT "capacity").
      const score = (link: Link): number => {
        const { live, max } = link.load
        const busy = live + link.inFlight
        return max !== null && busy >= max ? Number.MAX_SAFE_INTEGER : busy
      }
      for (const link of candidates) if (score(link) < score(chosen)) chosen = link
    }
    this.cursor = (this.links.indexOf(chosen) + 1) % n
    return chosen
  }

  /**
   * Offers the connection (its descriptor `fd`, still ours) to the pool until
   * a receiver accepts it, or one answers in a way that ends it (a final
   * REJECT, a timeout, doubt), or no receiver is left.
   */
  async send (request: HandoffRequest, fd: number): Promise<TargetResult> {
    const { timeout, grace, receiverTarget } = this.options
    const sendOptions = receiverTarget === undefined ? { timeout, grace } : { timeout, grace, target: receiverTarget }
    const tried = new Set<Link>()
    const labels: string[] = []
    let last: Verdict | undefined
    let lastReceiver: string | undefined
    const waitUntil = Date.now() + this.options.connectWait
    for (;;) {
      const link = this.pick(tried)
      if (link === null) {
        // A receiver still connecting (the app just started, or one is
        // reconnecting) is worth a short wait; a pool that is down is not.
        const connecting = this.links.filter((l) => (l.state === 'connecting' || l.reconnecting) && !tried.has(l))
        const remaining = waitUntil - Date.now()
        if (connecting.length > 0 && remaining > 0) {
          let timer: NodeJS.Timeout | undefined
          await Promise.race([
            Promise.race(connecting.map((l) => l.settled())),
            new Promise<void>((resolve) => { timer = setTimeout(resolve, remaining) })
          ])
          clearTimeout(timer)
          // Pick again (pick() moves the round-robin cursor: only once per
          // handoff), or wait on for another one still connecting.
          continue
        }
        if (last !== undefined) return { verdict: last, ...(lastReceiver === undefined ? {} : { receiver: lastReceiver }), tried: labels }
        const states = this.links.map((l) => `${l.label}: ${l.state}${l.health().lastError === undefined ? '' : ` (${String(l.health().lastError)})`}`)
        return { verdict: { outcome: 'unavailable', error: new ERR_HANDOFF_UNAVAILABLE(this.name, states.join('; ')) }, tried: labels }
      }
      tried.add(link)
      labels.push(link.label)
      const verdict = await link.send(request, fd, sendOptions)
      last = verdict
      lastReceiver = link.label
      switch (verdict.outcome) {
        case 'accepted':
        case 'timeout':
        case 'doubt':
          return { verdict, receiver: link.label, tried: labels }
        case 'rejected':
          if (!verdict.retryable) return { verdict, receiver: link.label, tried: labels }
          break
        case 'unsent':
          // Too large for any receiver: no point offering it around.
          if (finalUnsent(verdict.error)) return { verdict, receiver: link.label, tried: labels }
          break
        case 'lost':
          break
      }
    }
  }

  async close (): Promise<void> {
    await Promise.all(this.links.map((link) => link.close()))
  }

  destroy (): void {
    for (const link of this.links) link.destroy()
  }
}
