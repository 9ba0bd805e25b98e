// One generation of an application's listeners: where they come from
// (the predecessor, systemd, or a fresh bind, in that order), and how they
// are handed to the successor. This is the primitive; takeover/listen.ts
// puts HTTP servers on it, and any other listener (a UnixListener of a
// sibling) can be offered and taken by name the same way.
import { EventEmitter } from 'node:events'
import { listenUnix, adoptUnixListener, type UnixListener } from '../unix.js'
import { closeFds } from '../channel.js'
import { credentialPolicy, type Allowlist } from '../credentials.js'
import { ERR_HANDOFF_TAKEOVER_OPTION } from '../errors.js'
import { askPredecessor, type Inheritance, type Inherited } from './successor.js'
import { Running, type OfferSource } from './running.js'
import { countTakeover } from '../metrics/deploy.js'
import { systemdListeners, type ActivatedListener } from './systemd.js'
import { logLine, type TakeoverLog, type TakeoverLogLine } from './log.js'

export interface TakeoverOptions {
  /** Path of the control socket (mode 0600, in a directory only this user can write). Every generation uses the same path. */
  control: string
  /** Who may take over from us, and from whom we take: default this process's uid. */
  allow?: Allowlist
  /** ms the running generation waits for READY before it rolls back (default 10000). */
  readyTimeout?: number
  /** ms a new generation waits for the OFFER, e.g. behind another takeover (default 30000). */
  askTimeout?: number
  /** A label for the logs of the other side. */
  name?: string
  /**
   * Where takeover logs: a HandoffLogger (pino, fastify.log). A
   * `(level, message)` function still works (deprecated: until the next minor).
   */
  log?: TakeoverLog
}

export type ListenerSource = 'takeover' | 'systemd' | 'bind'

/** A listener handed to this generation: from the predecessor or from systemd. */
export interface Claimed { fd: number, kind: 'tcp' | 'unix', source: Exclude<ListenerSource, 'bind'>, address?: string, identity: { dev: bigint, ino: bigint } | null }

export interface GenerationEvents {
  /** A successor is ready and this generation committed: stop accepting on every listener now. */
  handover: [successorPid: number]
  /** A successor failed; this generation serves on (the reason is also logged). */
  rollback: [successorPid: number, why: string]
  /** After a handover: every connection this generation held has ended (listen.ts; `forced`: closed at drainTimeout). */
  retired: [info: { forced: number }]
}

function timeout (value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value <= 0) throw new ERR_HANDOFF_TAKEOVER_OPTION(name, 'expected a positive integer (ms)')
  return value
}

export class Generation extends EventEmitter<GenerationEvents> {
  /** 1 for the first; the predecessor's plus one after a takeover. */
  readonly generation: number
  readonly predecessorPid: number | null
  readonly readyTimeout: number
  private readonly sources = new Map<string, OfferSource>()
  private activated: ActivatedListener[]
  private running: Running | null = null
  private control: UnixListener | null = null
  private closed = false

  constructor (private readonly options: TakeoverOptions, private inheritance: Inheritance | null, private readonly log: TakeoverLogLine) {
    super()
    this.generation = inheritance?.generation ?? 1
    this.predecessorPid = inheritance?.predecessorPid ?? null
    this.readyTimeout = timeout(options.readyTimeout, 10000, 'readyTimeout')
    // Socket activation only starts a generation; later ones inherit from their predecessor.
    this.activated = inheritance === null ? systemdListeners() : []
  }

  /**
   * The listener `name`, if one was handed to us: the predecessor's of that
   * name, else systemd's (by FileDescriptorName=, else the next in order).
   * null: bind it yourself. The descriptor is the caller's from here on.
   */
  claim (name: string): Claimed | null {
    const inherited = this.inheritance?.take(name)
    if (inherited != null) return { ...fromInherited(inherited), source: 'takeover' }
    // systemd names each descriptor (FileDescriptorName=, by default the
    // socket unit's name): the one of this name, else the next in order.
    const byName = this.activated.findIndex((l) => l.name === name)
    const at = byName >= 0 ? byName : 0
    if (at >= this.activated.length) return null
    const [l] = this.activated.splice(at, 1)
    return { fd: l.fd, kind: l.kind, source: 'systemd', identity: null }
  }

  /** What this generation will hand to its successor under `name` (replaces an earlier offer of that name). */
  offer (source: OfferSource): void {
    if (source.name === 'control') throw new ERR_HANDOFF_TAKEOVER_OPTION('name', '"control" is the takeover socket\'s own name')
    this.sources.set(source.name, source)
  }

  withdraw (name: string): void { this.sources.delete(name) }

  get handedOver (): boolean { return this.running?.handedOver ?? false }

  /**
   * Every listener is listening: tell the predecessor (which then stops
   * accepting) and start answering our own successor on the control socket.
   * Rejects with ERR_HANDOFF_TAKEOVER_ABORTED if the predecessor called it
   * off (too late): close what you listen on and exit.
   */
  async ready (): Promise<void> {
    const inheritance = this.inheritance
    let control: UnixListener
    if (inheritance !== null) {
      const own = inheritance.take('control')
      const unclaimed = inheritance.untaken
      if (unclaimed.length > 0) this.log('warn', `takeover: the predecessor offered listener(s) ${unclaimed.join(', ')} that this generation does not use: they close with it`)
      try {
        await inheritance.ready(this.readyTimeout)
      } catch (err) {
        if (own !== null) closeFds([own.fd])
        throw err
      } finally {
        this.inheritance = null
      }
      if (own === null) control = await listenUnix(this.options.control)
      else control = adoptUnixListener(own.fd, own.address, own.identity)
      this.log('info', `takeover: generation ${this.generation} (pid ${process.pid}) took over from pid ${String(this.predecessorPid)}`)
    } else {
      control = await listenUnix(this.options.control)
    }
    closeFds(this.activated.map((l) => l.fd))
    this.activated = []
    // The control socket alone must not keep the process alive.
    control.unref()
    if (this.closed) { control.close(); return }
    this.running = new Running({
      control,
      generation: this.generation,
      policy: credentialPolicy(this.options.allow, 'allow', (n, r) => new ERR_HANDOFF_TAKEOVER_OPTION(n, r)),
      askTimeout: timeout(this.options.askTimeout, 30000, 'askTimeout'),
      readyTimeout: this.readyTimeout,
      sources: () => [...this.sources.values()],
      log: this.log,
      onCommit: (pid) => { countTakeover('handedOver'); this.emit('handover', pid) },
      onRollback: (pid, why) => { countTakeover('rolledBack'); this.emit('rollback', pid, why) }
    })
    this.control = control
  }

  /** Stops answering successors; removes the control socket file unless a successor holds it. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.inheritance?.close()
    closeFds(this.activated.map((l) => l.fd))
    this.activated = []
    if (this.control !== null && !this.handedOver) this.control.close()
  }
}

function fromInherited (l: Inherited): Omit<Claimed, 'source'> {
  return { fd: l.fd, kind: l.kind === 'unix' ? 'unix' : 'tcp', address: l.address, identity: l.identity }
}

/**
 * Starts a generation: asks whoever runs at `options.control` for its
 * listeners (none there: the first generation; systemd's, if it activated
 * us). Claim and listen on each, then ready().
 */
export async function takeover (options: TakeoverOptions): Promise<Generation> {
  if (typeof options?.control !== 'string' || options.control === '') throw new ERR_HANDOFF_TAKEOVER_OPTION('control', 'expected the path of the control socket')
  const log = logLine(options.log) ?? (() => {})
  const policy = credentialPolicy(options.allow, 'allow', (n, r) => new ERR_HANDOFF_TAKEOVER_OPTION(n, r))
  const inheritance = await askPredecessor(options.control, {
    policy, askTimeout: timeout(options.askTimeout, 30000, 'askTimeout'), ...(options.name !== undefined ? { name: options.name } : {})
  })
  try {
    return new Generation(options, inheritance, log)
  } catch (err) {
    inheritance?.close()
    throw err
  }
}
