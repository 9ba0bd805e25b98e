// The one place the addon is loaded. Everything else imports its typed view
// from here (and, for messages, only through channel.ts).
import path from 'node:path'
import { ERR_HANDOFF_NATIVE_LOAD, ERR_HANDOFF_UNSUPPORTED_PLATFORM } from './errors.js'

export interface FdInfo {
  kind: 'socket' | 'file' | 'fifo' | 'char' | 'dir' | 'other'
  family?: 'unix' | 'inet' | 'inet6' | number
  type?: 'stream' | 'dgram' | 'seqpacket' | number
  listening?: boolean
}

/** A TCP stream socket (inet or inet6), by the kernel's word. */
export function isTcpStream (info: FdInfo): boolean {
  return info.kind === 'socket' && (info.family === 'inet' || info.family === 'inet6') && info.type === 'stream'
}

/** What a descriptor is, for an error message: "a file", "a unix stream socket", "… (listening)". */
export function describeFd (info: FdInfo): string {
  return info.kind !== 'socket'
    ? `a ${info.kind}`
    : `a ${String(info.family)} ${String(info.type)} socket${info.listening === true ? ' (listening)' : ''}`
}

/** A socket file listenUnixAt created: its directory (opened once) and its identity. */
export interface SocketFile {
  dirFd: number
  name: string
  dev: bigint
  ino: bigint
}

/** A directory's owner and permission bits (openDirectory's chain). */
export interface DirEntry {
  uid: number
  mode: number
}

export interface PeerCredentials {
  /** -1 where the kernel does not tell */
  pid: number
  uid: number
  gid: number
}

export interface NativeChannelCallbacks {
  /**
   * Everything one poll event read: `data` holds the bytes of every read, in
   * order; `reads` has, per read, its byte count, its descriptor count (-1:
   * the kernel truncated them; the addon closed what came) and then its
   * descriptors.
   */
  onRead (data: Buffer, reads: number[]): void
  onWritten (count: number): void
  onError (err: Error): void
  onEnd (): void
}

export interface NativeChannel {
  /** Queues one message; returns how many queued messages this call completed. */
  send (data: Buffer, fds?: number[]): number
  /** `done` runs once the descriptor is really closed (libuv's close phase). */
  close (done?: () => void): void
  ref (): void
  unref (): void
  pause (): void
  resume (): void
  /**
   * The received descriptors the JS side keeps for frames not yet complete
   * (replaces the previous list): closed by the addon if the environment goes
   * away first; close() forgets them.
   */
  hold (fds: number[]): void
  readonly pending: number
  readonly fd: number
}

export interface NativeListener {
  /** true: our socket file was removed; false: its name held something else (left alone) or nothing; null: no file (or keepFile: left for a successor). */
  close (done?: () => void, keepFile?: boolean): boolean | null
  /** The listening descriptor; -1 once closed. */
  readonly fd: number
  ref (): void
  unref (): void
  pause (): void
  resume (): void
}

export interface Binding {
  NativeChannel: new (fd: number, callbacks: NativeChannelCallbacks) => NativeChannel
  /** `file`: the socket file listenUnixAt made; the listener owns `dirFd` from then on and removes the file at close only if it is still that inode. */
  NativeListener: new (fd: number, callbacks: { onConnection (fd: number): void, onError (err: Error): void }, file?: SocketFile) => NativeListener
  socketpair (): [number, number]
  /** Linux's abstract namespace only (no file); a path goes through openDirectory + listenUnixAt. */
  listenAbstract (name: string, backlog: number): number
  /** Opens a directory once (O_PATH on Linux): its descriptor, then it and each real ancestor up to "/". */
  openDirectory (path: string): { fd: number, chain: DirEntry[] }
  /**
   * Creates, binds (mode set in a private directory) and listens on the socket
   * `name` in the directory `dirFd`, then puts it at `name` without removing
   * anything but a stale socket (swapped out atomically). EADDRINUSE carries
   * `live`: true when somebody answers on `name`, false when it is not a socket.
   */
  listenUnixAt (dirFd: number, name: string, dirPath: string, backlog: number, mode: number): { fd: number, dev: bigint, ino: bigint }
  connectUnix (name: string, abstract: boolean): number
  fdInfo (fd: number): FdInfo
  /** Whether `fd` is a TCP socket (one getsockopt on Linux); false for anything else or an error. */
  isTcpSocket (fd: number): boolean
  peerCredentials (fd: number): PeerCredentials
  closeFd (fd: number): void
  /** FD_CLOEXEC on a descriptor inherited without it (systemd's LISTEN_FDS). */
  setCloexec (fd: number): void
  /** SO_SNDBUF / SO_RCVBUF; 0 leaves one alone. */
  setBufferSizes (fd: number, sndbuf: number, rcvbuf: number): void
}

function load (): Binding {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new ERR_HANDOFF_UNSUPPORTED_PLATFORM(process.platform)
  }
  try {
    const build = require('node-gyp-build') as (dir: string) => Binding
    return build(path.join(__dirname, '..'))
  } catch (err) {
    throw new ERR_HANDOFF_NATIVE_LOAD((err as Error).message, { cause: err })
  }
}

export const binding: Binding = load()
