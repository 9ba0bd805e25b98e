// Listening on and connecting to Unix sockets whose descriptors the addon
// polls itself (a socket inside a net.Server is already watched by libuv, and
// libuv allows one watcher per descriptor).
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { binding, type NativeListener } from './native.js'
import { ERR_HANDOFF_PATH_IN_USE, isSystemError } from './errors.js'

/** A filesystem path, or `{ abstract: 'name' }` for Linux's abstract namespace (no file, no permissions: check credentials). */
export type UnixAddress = string | { abstract: string }

export function describeAddress (address: UnixAddress): string {
  return typeof address === 'string' ? address : `@${address.abstract}`
}

function parts (address: UnixAddress): [string, boolean] {
  return typeof address === 'string' ? [address, false] : [address.abstract, true]
}

export interface ListenOptions {
  /** File mode of the socket; default 0o600 (owner only). Ignored for abstract names. */
  mode?: number
  backlog?: number
}

export interface UnixListenerEvents {
  connection: [fd: number]
  error: [err: Error]
  close: []
}

export class UnixListener extends EventEmitter<UnixListenerEvents> {
  readonly address: UnixAddress
  private native: NativeListener | null

  constructor (fd: number, address: UnixAddress) {
    super()
    this.address = address
    this.native = new binding.NativeListener(fd, {
      onConnection: (conn) => {
        if (this.listenerCount('connection') === 0) binding.closeFd(conn)
        else this.emit('connection', conn)
      },
      onError: (err) => this.onAcceptError(err)
    })
  }

  get closed (): boolean { return this.native === null }
  ref (): this { this.native?.ref(); return this }
  unref (): this { this.native?.unref(); return this }

  /** Stops accepting and removes the socket file (only ours: we made it). */
  close (): void {
    const native = this.native
    if (native === null) return
    this.native = null
    if (typeof this.address === 'string') {
      try { fs.unlinkSync(this.address) } catch { /* already removed by someone else */ }
    }
    native.close(() => this.emit('close'))
  }

  private onAcceptError (err: Error): void {
    // The addon paused accepting (EMFILE and the like would otherwise spin).
    // Try again shortly; meanwhile connections wait in the kernel's backlog.
    this.emit('error', err)
    const timer = setTimeout(() => this.native?.resume(), 100)
    timer.unref()
  }
}

/**
 * Listens on `address`. A path on which a live process still listens is
 * refused (ERR_HANDOFF_PATH_IN_USE); a stale one (nobody answers) is replaced.
 */
export async function listenUnix (address: UnixAddress, options: ListenOptions = {}): Promise<UnixListener> {
  const [name, abstract] = parts(address)
  const mode = options.mode ?? 0o600
  const backlog = options.backlog ?? 511
  for (let attempt = 0; ; attempt++) {
    try {
      return new UnixListener(binding.listenUnix(name, abstract, backlog, abstract ? -1 : mode), address)
    } catch (err) {
      if (!isSystemError(err) || err.code !== 'EADDRINUSE') throw err
      // An abstract name vanishes with its last listener: in use means live.
      if (abstract || attempt > 0) throw new ERR_HANDOFF_PATH_IN_USE(describeAddress(address))
      // Only a socket file can be stale. Anything else (a regular file, a
      // directory, a symlink) is somebody's data: connect() refuses those
      // too, which must not read as "stale, remove it".
      if (!isSocketFile(name)) throw err
    }
    // The path exists. Probe it: only a path nobody answers on may go.
    if (await isLive(address)) throw new ERR_HANDOFF_PATH_IN_USE(name)
    try { fs.unlinkSync(name) } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
}

function isSocketFile (name: string): boolean {
  try {
    return fs.lstatSync(name).isSocket()
  } catch {
    return true // gone meanwhile: nothing to protect, let the retry decide
  }
}

async function isLive (address: UnixAddress): Promise<boolean> {
  try {
    binding.closeFd(await connectUnix(address, { timeout: 1000 }))
    return true
  } catch (err) {
    if (isSystemError(err) && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT')) return false
    // EAGAIN until the timeout: someone is there, just busy.
    if (isSystemError(err) && err.code === 'EAGAIN') return true
    throw err
  }
}

export interface ConnectOptions {
  /** How long to keep retrying while the listener's backlog is full (ms). */
  timeout?: number
}

/** Connects without blocking; retries while the listener's backlog is full. Returns the fd. */
export async function connectUnix (address: UnixAddress, options: ConnectOptions = {}): Promise<number> {
  const [name, abstract] = parts(address)
  const deadline = Date.now() + (options.timeout ?? 5000)
  let wait = 1
  for (;;) {
    try {
      return binding.connectUnix(name, abstract)
    } catch (err) {
      if (!isSystemError(err) || err.code !== 'EAGAIN' || Date.now() >= deadline) throw err
    }
    // Back-pressure from the kernel, not synchronisation: the listener will
    // drain its backlog; try again a little later.
    await delay(wait)
    wait = Math.min(wait * 2, 50)
  }
}
