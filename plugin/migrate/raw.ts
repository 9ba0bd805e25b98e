// Handing on a raw connection (one a `receiver.on('handoff')` listener
// serves with its own protocol) to a new sibling, at a boundary the app
// chooses: the app stops consuming, says which bytes it had read and not
// parsed (its parser's leftovers) and what state goes along; the connection
// travels as a HANDOFF of kind "raw" with those bytes and the state as its
// context, and reaches the new sibling's 'handoff' listener like any other.
// Ownership as for every handoff: ours until the new sibling ACCEPTs.
import type net from 'node:net'
import { ERR_HANDOFF_MIGRATE_OPTION, ERR_HANDOFF_SOCKET_GONE } from '../errors.js'
import { ReadHold, socketFd } from '../internals.js'
import type { Allowlist } from '../credentials.js'
import type { UnixAddress } from '../unix.js'
import { drainReadable, type Detached } from '../sender/detach.js'
import { Sender, type HandoffResult } from '../sender/handoff.js'
import { EMPTY_BUFFER } from '../empty.js'

export interface HandOnOptions {
  /** Bytes the app read and did not parse: they come first on the new side. */
  unread?: Buffer
  /** JSON state: the new side's handoffInfo(socket).context. */
  state?: unknown
}

class RawDetached implements Detached {
  readonly kind = 'raw' as const
  readonly head = EMPTY_BUFFER
  readonly keepAlive = false
  readonly fd: number
  readonly buffered: Buffer
  readonly address: Detached['address']
  private state: 'detached' | 'released' | 'restored' = 'detached'
  private readonly drained: Buffer[]
  private readonly listeners: Array<(...args: unknown[]) => void>

  constructor (readonly socket: net.Socket, private readonly hold: ReadHold, fd: number, unread: Buffer) {
    this.fd = fd
    // The app's 'data' listeners are off while Node's buffer is drained:
    // those bytes travel, they are not the app's to parse any more.
    this.listeners = socket.listeners('data') as Array<(...args: unknown[]) => void>
    socket.removeAllListeners('data')
    this.drained = drainReadable(socket)
    hold.stopped()
    this.buffered = Buffer.concat([unread, ...this.drained])
    const a: Detached['address'] = {}
    if (socket.remoteAddress !== undefined) a.remoteAddress = socket.remoteAddress
    if (socket.remotePort !== undefined) a.remotePort = socket.remotePort
    if (socket.localAddress !== undefined) a.localAddress = socket.localAddress
    if (socket.localPort !== undefined) a.localPort = socket.localPort
    if (socket.remoteFamily === 'IPv4' || socket.remoteFamily === 'IPv6') a.family = socket.remoteFamily
    this.address = a
  }

  get settled (): boolean { return this.state !== 'detached' }

  release (): void {
    if (this.state !== 'detached') return
    this.state = 'released'
    this.hold.lift()
    // Our copy only: the new sibling holds the connection.
    this.socket.destroy()
  }

  restore (): void {
    if (this.state !== 'detached') return
    this.state = 'restored'
    for (const l of this.listeners) this.socket.on('data', l)
    for (let i = this.drained.length - 1; i >= 0; i--) this.socket.unshift(this.drained[i])
    this.hold.undo()
  }
}

/**
 * Hands raw connections on to the receiver at `address`. `handOn(socket)`
 * resolves with the handoff's result: `handedOff` true (our copy is closed;
 * the socket's 'close' follows: the app tells it from a client's by this
 * result) or false (the socket is ours again, reading, its 'data'
 * listeners back, `unread` left to the app).
 */
export class RawMover {
  private readonly sender: Sender

  constructor (address: UnixAddress, options: { timeout?: number, allow?: Allowlist } = {}) {
    this.sender = new Sender({
      targets: {
        next: {
          path: address,
          receiverTarget: false,
          ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
          ...(options.allow === undefined ? {} : { allow: options.allow })
        }
      }
    })
  }

  /** Resolves once the receiver answers (never rejects: race it with a timer). */
  async ready (): Promise<void> { await this.sender.ready('next') }

  async handOn (socket: net.Socket, options: HandOnOptions = {}): Promise<HandoffResult> {
    const unread = options.unread ?? EMPTY_BUFFER
    if (!Buffer.isBuffer(unread)) throw new ERR_HANDOFF_MIGRATE_OPTION('unread', 'expected a Buffer')
    const fd = socket.destroyed ? null : socketFd(socket)
    if (fd === null || fd < 0) throw new ERR_HANDOFF_SOCKET_GONE()
    const detached = new RawDetached(socket, new ReadHold(socket), fd, unread)
    return await this.sender.send(detached, { target: 'next', context: options.state })
  }

  async close (): Promise<void> { await this.sender.close() }
}

export function rawMover (address: UnixAddress, options: { timeout?: number, allow?: Allowlist } = {}): RawMover {
  return new RawMover(address, options)
}
