// One takeover exchange over a Channel: wait for the next message of the
// types expected now, within a limit, or learn that the peer went away.
import { Channel, closeFds } from '../channel.js'
import { ERR_HANDOFF_TAKEOVER_PROTOCOL } from '../errors.js'
import { decode, encode, takeoverFramer, typeName, type TakeoverMessage, type TakeoverType } from './messages.js'

export interface Received { message: TakeoverMessage, fds: number[] }

/** Why a wait ended without the message: the peer's end, a bad frame, or the limit. */
export class ConversationEnded extends Error {
  constructor (readonly why: 'end' | 'timeout' | 'error', message: string, cause?: Error) { super(message, { cause }) }
}

export class Conversation {
  readonly channel: Channel
  private readonly inbox: Received[] = []
  private waiter: ((r: Received | ConversationEnded) => void) | null = null
  private ended: ConversationEnded | null = null

  constructor (fd: number) {
    this.channel = new Channel(fd, takeoverFramer, { frameTimeout: 5000 })
    this.channel.on('message', (frame, fds) => {
      let received: Received
      try {
        received = { message: decode(frame, fds), fds }
      } catch (err) {
        closeFds(fds)
        this.finish(new ConversationEnded('error', (err as Error).message, err as Error))
        return
      }
      if (this.waiter !== null) this.deliver(received)
      else this.inbox.push(received)
    })
    this.channel.on('frameError', (err, frame) => this.finish(new ConversationEnded('error', err.message, err)))
    this.channel.on('error', (err) => this.finish(new ConversationEnded('error', err.message, err)))
    this.channel.on('end', () => this.finish(new ConversationEnded('end', 'the peer closed the control channel')))
  }

  peerCredentials (): ReturnType<Channel['peerCredentials']> { return this.channel.peerCredentials() }

  send (message: TakeoverMessage, fds: readonly number[] = []): Promise<void> {
    return this.channel.send(encode(message, fds.length), fds)
  }

  /** The next message, which must be one of `types` (anything else is a protocol error). */
  async next (types: TakeoverType[], timeoutMs: number): Promise<Received> {
    const got = await new Promise<Received | ConversationEnded>((resolve) => {
      const queued = this.inbox.shift()
      if (queued !== undefined) return resolve(queued)
      if (this.ended !== null) return resolve(this.ended)
      const timer = setTimeout(() => {
        this.waiter = null
        resolve(new ConversationEnded('timeout', `nothing within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiter = (r) => { clearTimeout(timer); this.waiter = null; resolve(r) }
    })
    if (got instanceof ConversationEnded) throw got
    if (!types.includes(got.message.type)) {
      closeFds(got.fds)
      throw new ConversationEnded('error', `unexpected ${typeName(got.message.type)}`,
        new ERR_HANDOFF_TAKEOVER_PROTOCOL(`unexpected ${typeName(got.message.type)}`))
    }
    return got
  }

  close (): void {
    for (const r of this.inbox.splice(0)) closeFds(r.fds)
    this.channel.close()
  }

  private deliver (r: Received): void { this.waiter?.(r) }

  private finish (ended: ConversationEnded): void {
    if (this.ended !== null) return
    this.ended = ended
    this.waiter?.(ended)
  }
}
