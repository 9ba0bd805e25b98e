// The running generation's side of a takeover: it answers a successor on
// the control socket with its listening descriptors (OFFER), waits for READY
// and only then commits (COMMIT, then it stops accepting). Anything else (the
// successor crashes, closes, says something wrong, or is not ready in time)
// is a rollback: nothing changes here, and the log says why.
//
// One takeover at a time: while one runs, the control listener is paused, so
// a second successor waits in the kernel's backlog; after a commit, the same
// listening socket (passed along in the OFFER) is accepted by the new
// generation, which answers it. After a rollback, this one does.
import type { UnixListener } from '../unix.js'
import type { CredentialPolicy } from '../credentials.js'
import { Conversation, ConversationEnded } from './conversation.js'
import { TAKEOVER_PROTOCOL, TAKEOVER_VERSION, TakeoverType, type OfferedListener, type Reason } from './messages.js'

/** A listener this generation offers to its successor. */
export interface OfferSource {
  name: string
  kind: 'tcp' | 'unix'
  address: string
  /** The listening descriptor now (-1: not listening any more: not offered). */
  fd: () => number
  identity?: { dev: bigint, ino: bigint } | null
}

export interface RunningOptions {
  control: UnixListener
  generation: number
  policy: CredentialPolicy
  askTimeout: number
  readyTimeout: number
  sources: () => OfferSource[]
  log: (level: 'info' | 'warn', msg: string) => void
  /** COMMIT is in the kernel: stop accepting on every listener now. */
  onCommit: (successorPid: number) => void
  onRollback: (successorPid: number, why: string) => void
}

export class Running {
  private busy = false
  private committed = false

  constructor (private readonly options: RunningOptions) {
    options.control.on('connection', (fd) => { this.serve(fd).catch((err) => options.log('warn', `takeover: ${String(err)}`)) })
    options.control.on('error', (err) => options.log('warn', `takeover control socket: ${err.message}`))
  }

  get handedOver (): boolean { return this.committed }

  private async serve (fd: number): Promise<void> {
    const o = this.options
    const conv = new Conversation(fd)
    try {
      const creds = conv.peerCredentials()
      if (!o.policy.allows(creds)) {
        o.log('warn', `takeover refused: pid ${creds.pid} runs as uid ${creds.uid} gid ${creds.gid}, not allowed (${o.policy.describe()})`)
        return await this.refuse(conv, { reason: 'unauthorized', message: `uid ${creds.uid} gid ${creds.gid} is not allowed` })
      }
      if (this.busy || this.committed) {
        // Accepted in the same batch as the takeover that made us busy.
        return await this.refuse(conv, { reason: 'busy', message: 'a takeover is in progress; ask again' })
      }
      this.busy = true
      o.control.pause()
      try {
        await this.takeover(conv, creds.pid)
      } finally {
        this.busy = false
        if (!this.committed) o.control.resume()
      }
    } finally {
      conv.close()
    }
  }

  private async takeover (conv: Conversation, pid: number): Promise<void> {
    const o = this.options
    const ask = await conv.next([TakeoverType.Ask], o.askTimeout).catch((err: ConversationEnded) => {
      o.log('warn', `takeover by pid ${pid} dropped before it asked: ${err.message}`)
      return null
    })
    if (ask === null || ask.message.type !== TakeoverType.Ask) return
    const { protocol, version } = ask.message.body
    if (protocol !== TAKEOVER_PROTOCOL || version !== TAKEOVER_VERSION) {
      return await this.refuse(conv, { reason: 'version', message: `this generation speaks ${TAKEOVER_PROTOCOL} ${TAKEOVER_VERSION}` }, true)
    }
    const sources = o.sources().map((s) => ({ s, fd: s.fd() })).filter(({ fd }) => fd >= 0)
    const listeners: OfferedListener[] = [
      describe('control', 'control', o.control.address as string, o.control.identity),
      ...sources.map(({ s }) => describe(s.name, s.kind, s.address, s.identity ?? null))
    ]
    const fds = [o.control.fd, ...sources.map(({ fd }) => fd)]
    try {
      await conv.send({ type: TakeoverType.Offer, body: { pid: process.pid, generation: o.generation, listeners } }, fds)
    } catch (err) {
      // It gave up before we got to it (a limit of its own): nothing was handed over.
      o.log('warn', `takeover by pid ${pid} dropped before the OFFER reached it: ${(err as Error).message}`)
      return
    }
    o.log('info', `takeover: offered ${sources.length} listener(s) to pid ${pid} (${sources.map(({ s }) => `${s.name} ${s.address}`).join(', ')}); waiting up to ${o.readyTimeout} ms for it to be ready`)
    try {
      await conv.next([TakeoverType.Ready], o.readyTimeout)
    } catch (err) {
      const why = rollbackReason(err, pid, o.readyTimeout)
      if ((err as ConversationEnded).why !== 'end') {
        // It may still be starting: tell it to let go of what it took.
        await conv.send({ type: TakeoverType.Abort, body: { reason: (err as ConversationEnded).why, message: why } }).catch(() => {})
      }
      o.log('warn', `takeover rolled back, this generation (pid ${process.pid}) serves on: ${why}`)
      o.onRollback(pid, why)
      return
    }
    await conv.send({ type: TakeoverType.Commit, body: {} })
    this.committed = true
    // The socket file stays: the successor accepts on the same socket.
    o.control.release()
    o.log('info', `takeover: pid ${pid} is ready; this generation stops accepting and finishes what it serves`)
    o.onCommit(pid)
  }

  /**
   * REFUSE comes instead of an OFFER, so after the ASK: a successor that is
   * still writing its ASK when we close would see EPIPE, not our reason.
   */
  private async refuse (conv: Conversation, body: Reason, asked = false): Promise<void> {
    try {
      if (!asked) await conv.next([TakeoverType.Ask], this.options.askTimeout)
      await conv.send({ type: TakeoverType.Refuse, body })
    } catch { /* gone or silent: nobody to tell */ }
  }
}

function describe (name: string, kind: OfferedListener['kind'], address: string, identity: { dev: bigint, ino: bigint } | null): OfferedListener {
  return identity === null ? { name, kind, address } : { name, kind, address, dev: String(identity.dev), ino: String(identity.ino) }
}

function rollbackReason (err: unknown, pid: number, readyTimeout: number): string {
  if (!(err instanceof ConversationEnded)) return String(err)
  if (err.why === 'timeout') return `the new generation (pid ${pid}) did not report ready within ${readyTimeout} ms`
  if (err.why === 'end') return `the new generation (pid ${pid}) closed the control channel (exited?) before it was ready`
  return `the new generation (pid ${pid}) broke the protocol: ${err.message}`
}
