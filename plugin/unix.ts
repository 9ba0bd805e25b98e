// Listening on and connecting to Unix sockets whose descriptors the addon
// polls itself (a socket inside a net.Server is already watched by libuv, and
// libuv allows one watcher per descriptor).
//
// The socket file is never reached through its path twice (issue #11): its
// directory is opened once at listen and kept open; the addon creates the
// file, sets its mode, replaces a stale socket and at close removes only the
// inode it created, all relative to that directory (native/unixpath.cc).
import { EventEmitter } from 'node:events'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { binding, type NativeListener, type SocketFile } from './native.js'
import { ERR_HANDOFF_PATH_IN_USE, ERR_HANDOFF_UNSAFE_DIRECTORY, isSystemError } from './errors.js'
import { directoryRisks } from './unix-dir.js'

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
  /**
   * A socket directory (or an ancestor) that another uid can write or owns:
   * 'refuse' (default, ERR_HANDOFF_UNSAFE_DIRECTORY) or 'warn' (listen, and
   * say why in `warnings`). Ignored for abstract names.
   */
  sharedDirectory?: 'refuse' | 'warn'
}

export interface UnixListenerEvents {
  connection: [fd: number]
  error: [err: Error]
  close: []
}

export class UnixListener extends EventEmitter<UnixListenerEvents> {
  readonly address: UnixAddress
  /** What is risky about where the socket file lives (see ListenOptions.sharedDirectory); empty when nothing is. */
  readonly warnings: readonly string[]
  /**
   * After close(): whether the socket file was removed. False when its name
   * no longer held our socket (removed or replaced by someone else: left
   * alone); null before close and for abstract names.
   */
  removed: boolean | null = null
  /** The socket file's identity (null for abstract names): a successor that takes this listener over removes the file at its own close only while the name still holds this inode. */
  readonly identity: { dev: bigint, ino: bigint } | null
  private native: NativeListener | null

  constructor (fd: number, address: UnixAddress, file: SocketFile | null = null, warnings: readonly string[] = []) {
    super()
    this.address = address
    this.warnings = warnings
    this.identity = file === null ? null : { dev: file.dev, ino: file.ino }
    this.native = new binding.NativeListener(fd, {
      onConnection: (conn) => {
        if (this.listenerCount('connection') === 0) binding.closeFd(conn)
        else this.emit('connection', conn)
      },
      onError: (err) => this.onAcceptError(err)
    }, file ?? undefined)
  }

  get closed (): boolean { return this.native === null }
  /** The listening descriptor (to offer to a successor: plugin/takeover/); -1 once closed. */
  get fd (): number { return this.native?.fd ?? -1 }
  ref (): this { this.native?.ref(); return this }
  unref (): this { this.native?.unref(); return this }
  /** Stops accepting for a while: connections wait in the kernel's backlog (a second takeover waits for the first). */
  pause (): this { this.native?.pause(); return this }
  resume (): this { this.native?.resume(); return this }

  /**
   * Stops accepting and removes the socket file: only if its name, in the
   * directory opened at listen, is still the inode we created (a symlink or
   * somebody's file there is left alone, and nothing is followed).
   */
  close (): void {
    const native = this.native
    if (native === null) return
    this.native = null
    this.removed = native.close(() => this.emit('close'))
  }

  /**
   * Stops accepting and closes this process's descriptor, but leaves the
   * socket file: a successor holds the same listening socket (takeover), so
   * the path must keep naming it. 'close' as for close().
   */
  release (): void {
    const native = this.native
    if (native === null) return
    this.native = null
    native.close(() => this.emit('close'), true)
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
 * refused (ERR_HANDOFF_PATH_IN_USE); a stale one (nobody answers) is replaced
 * atomically (the name never goes missing); anything that is not a socket is
 * refused (EADDRINUSE) and never removed. A directory another uid can write
 * is refused or warned about (`sharedDirectory`).
 */
export async function listenUnix (address: UnixAddress, options: ListenOptions = {}): Promise<UnixListener> {
  const [name, abstract] = parts(address)
  const backlog = options.backlog ?? 511
  if (abstract) {
    try {
      return new UnixListener(binding.listenAbstract(name, backlog), address)
    } catch (err) {
      // An abstract name vanishes with its last listener: in use means live.
      if (isSystemError(err) && err.code === 'EADDRINUSE') throw new ERR_HANDOFF_PATH_IN_USE(describeAddress(address))
      throw err
    }
  }
  const dirPath = path.dirname(name)
  const dir = binding.openDirectory(dirPath)
  try {
    const risks = directoryRisks(dir.chain, dirPath, process.geteuid?.() ?? -1)
    if (risks.unsafe.length > 0 && options.sharedDirectory !== 'warn') {
      throw new ERR_HANDOFF_UNSAFE_DIRECTORY(name, risks.unsafe.join('; '))
    }
    const made = binding.listenUnixAt(dir.fd, path.basename(name), dirPath, backlog, options.mode ?? 0o600)
    const file = { dirFd: dir.fd, name: path.basename(name), dev: made.dev, ino: made.ino }
    try {
      // From here the listener owns both descriptors (and removes the file).
      return new UnixListener(made.fd, address, file, [...risks.unsafe, ...risks.notes])
    } catch (err) {
      binding.closeFd(made.fd)
      throw err
    }
  } catch (err) {
    binding.closeFd(dir.fd)
    if (isSystemError(err) && err.code === 'EADDRINUSE' && (err as { live?: boolean }).live === true) {
      throw new ERR_HANDOFF_PATH_IN_USE(name)
    }
    throw err
  }
}

/**
 * Wraps a listening Unix socket taken over from a predecessor (`fd`), whose
 * file at `address` had `identity` when the predecessor offered it. Like a
 * listener of our own, close() removes the file only while its name still
 * holds that inode; release() leaves it for our own successor.
 */
export function adoptUnixListener (fd: number, address: UnixAddress, identity: { dev: bigint, ino: bigint } | null): UnixListener {
  if (typeof address !== 'string' || identity === null) return new UnixListener(fd, address)
  const dir = binding.openDirectory(path.dirname(address))
  try {
    return new UnixListener(fd, address, { dirFd: dir.fd, name: path.basename(address), ...identity })
  } catch (err) {
    binding.closeFd(dir.fd)
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
