// The new generation's side of a takeover: connect to the control socket,
// check who answers, ASK, and receive the listeners (OFFER). The caller
// listens on each descriptor, then calls ready(): READY, and the running
// generation answers COMMIT (they are ours) or ABORT (they stay theirs).
import { connectUnix } from '../unix.js'
import { binding } from '../native.js'
import { closeFds } from '../channel.js'
import { isSystemError, ERR_HANDOFF_TAKEOVER_ABORTED, ERR_HANDOFF_TAKEOVER_BUSY, ERR_HANDOFF_TAKEOVER_PROTOCOL, ERR_HANDOFF_TAKEOVER_REFUSED, ERR_HANDOFF_TAKEOVER_UNTRUSTED } from '../errors.js'
import type { CredentialPolicy } from '../credentials.js'
import { Conversation, ConversationEnded } from './conversation.js'
import { TAKEOVER_PROTOCOL, TAKEOVER_VERSION, TakeoverType, type ListenerKind, type Offer } from './messages.js'

export interface Inherited {
  name: string
  kind: ListenerKind
  address: string
  fd: number
  identity: { dev: bigint, ino: bigint } | null
}

export interface AskOptions {
  policy: CredentialPolicy
  /** How long to wait for the OFFER (a takeover already under way makes us wait for it). */
  askTimeout: number
  name?: string
}

/** What a predecessor handed over, until ready() settles who owns it. */
export class Inheritance {
  readonly generation: number
  readonly predecessorPid: number
  private readonly listeners = new Map<string, Inherited>()
  private settled = false

  constructor (private readonly conv: Conversation, offer: Offer, fds: number[]) {
    this.generation = offer.generation + 1
    this.predecessorPid = offer.pid
    offer.listeners.forEach((l, i) => {
      const identity = l.dev !== undefined && l.ino !== undefined ? { dev: BigInt(l.dev), ino: BigInt(l.ino) } : null
      this.listeners.set(l.name, { name: l.name, kind: l.kind, address: l.address, fd: fds[i], identity })
    })
  }

  /** The listener named `name`, now the caller's to listen on (and close); null if none was offered. */
  take (name: string): Inherited | null {
    const l = this.listeners.get(name)
    if (l === undefined) return null
    this.listeners.delete(name)
    return l
  }

  /** Names offered and not taken (yet). */
  get untaken (): string[] { return [...this.listeners.keys()] }

  /**
   * READY, then the running generation's answer: COMMIT resolves (it stops
   * accepting), ABORT rejects (ERR_HANDOFF_TAKEOVER_ABORTED: stop using what
   * was taken). If it goes away without answering and its process is gone,
   * nobody else accepts: resolves.
   */
  async ready (timeoutMs: number): Promise<void> {
    try {
      // A running generation that called it off already (its readyTimeout
      // passed) sent ABORT and closed: READY cannot go, and the answer is
      // already here, read below. Whatever else stops READY ends the channel,
      // which the wait below reports too.
      await this.conv.send({ type: TakeoverType.Ready, body: { pid: process.pid } }).catch(() => {})
      const answer = await this.conv.next([TakeoverType.Commit, TakeoverType.Abort], timeoutMs)
      if (answer.message.type === TakeoverType.Abort) throw new ERR_HANDOFF_TAKEOVER_ABORTED(answer.message.body.message)
    } catch (err) {
      if (!(err instanceof ConversationEnded)) throw err
      if (err.why !== 'end' || alive(this.predecessorPid)) throw new ERR_HANDOFF_TAKEOVER_ABORTED(`no COMMIT from pid ${this.predecessorPid}: ${err.message}`)
    } finally {
      this.close()
    }
  }

  /** Gives up: closes the channel and every descriptor not taken. */
  close (): void {
    if (this.settled) return
    this.settled = true
    closeFds([...this.listeners.values()].map((l) => l.fd))
    this.listeners.clear()
    this.conv.close()
  }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/** The running generation's listeners, or null when nobody answers at `control` (the first generation). */
export async function askPredecessor (control: string, options: AskOptions): Promise<Inheritance | null> {
  let fd: number
  try {
    fd = await connectUnix(control)
  } catch (err) {
    if (isSystemError(err) && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) return null
    throw err
  }
  const conv = new Conversation(fd)
  try {
    const creds = conv.peerCredentials()
    if (!options.policy.allows(creds)) throw new ERR_HANDOFF_TAKEOVER_UNTRUSTED(control, creds.uid, creds.gid, creds.pid)
    const ask = { protocol: TAKEOVER_PROTOCOL, version: TAKEOVER_VERSION, pid: process.pid, ...(options.name !== undefined ? { name: options.name } : {}) }
    await conv.send({ type: TakeoverType.Ask, body: ask })
    const got = await conv.next([TakeoverType.Offer, TakeoverType.Refuse], options.askTimeout).catch((err: ConversationEnded) => {
      if (err.why === 'timeout') throw new ERR_HANDOFF_TAKEOVER_BUSY(options.askTimeout)
      throw new ERR_HANDOFF_TAKEOVER_PROTOCOL(`no OFFER: ${err.message}`)
    })
    if (got.message.type === TakeoverType.Refuse) throw new ERR_HANDOFF_TAKEOVER_REFUSED(got.message.body.reason, got.message.body.message)
    if (got.message.type !== TakeoverType.Offer) throw new ERR_HANDOFF_TAKEOVER_PROTOCOL('no OFFER')
    checkDescriptors(got.message.body, got.fds)
    return new Inheritance(conv, got.message.body, got.fds)
  } catch (err) {
    conv.close()
    throw err
  }
}

/** Each descriptor must be a listening socket of its declared kind (closed, all of them, if not). */
function checkDescriptors (offer: Offer, fds: number[]): void {
  offer.listeners.forEach((l, i) => {
    const info = binding.fdInfo(fds[i])
    const family = l.kind === 'tcp' ? ['inet', 'inet6'] : ['unix']
    if (info.kind !== 'socket' || info.type !== 'stream' || info.listening !== true || !family.includes(String(info.family))) {
      closeFds(fds)
      throw new ERR_HANDOFF_TAKEOVER_PROTOCOL(`listener "${l.name}" (${l.kind}) came as a descriptor that is not a listening ${l.kind} socket`)
    }
  })
}
