// Whose process may stand at the other end of a channel, by the kernel's word
// (SO_PEERCRED on Linux, getpeereid on macOS): the receiver checks each
// sender that connects, the sender checks each receiver it connects to. A
// socket file's mode is only a first fence: an abstract-namespace socket has
// no file, a mode is easy to get wrong, and whoever binds a name first owns
// it. The pid a peer puts in its HELLO is only a label.
import type { PeerCredentials } from './native.js'

export interface Allowlist {
  /** Peers running as one of these uids are accepted. */
  uids?: number[]
  /** Peers whose primary gid is one of these are accepted. */
  gids?: number[]
}

export interface CredentialPolicy {
  allows (creds: PeerCredentials): boolean
  describe (): string
}

/** How a side reports a bad option (each side has its own option error, and names the option its own way). */
export type OptionError = (name: string, reason: string) => Error

function ids (value: unknown, name: string, invalid: OptionError): number[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((id) => Number.isInteger(id) && id >= 0)) {
    throw invalid(name, 'expected an array of non-negative integers')
  }
  return value as number[]
}

/**
 * `allow` as given by the user (`option` is its name in their options, for
 * the error). Default: only this process's own uid (not even root, unless
 * this process runs as root).
 */
export function credentialPolicy (allow: Allowlist | undefined, option: string, invalid: OptionError): CredentialPolicy {
  if (allow !== undefined && (typeof allow !== 'object' || allow === null || Array.isArray(allow))) {
    throw invalid(option, 'expected { uids?: number[], gids?: number[] }')
  }
  const ownUid = typeof process.getuid === 'function' ? process.getuid() : -1
  const uids = new Set(allow === undefined ? [ownUid] : ids(allow.uids, `${option}.uids`, invalid))
  const gids = new Set(allow === undefined ? [] : ids(allow.gids, `${option}.gids`, invalid))
  if (allow !== undefined && uids.size === 0 && gids.size === 0) {
    throw invalid(option, 'allows nobody: give at least one uid or gid')
  }
  return {
    allows: (creds) => uids.has(creds.uid) || gids.has(creds.gid),
    describe: () => `uids [${[...uids].join(', ')}], gids [${[...gids].join(', ')}]`
  }
}
