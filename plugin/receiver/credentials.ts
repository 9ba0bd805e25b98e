// Who may hand connections to this receiver. The socket file's mode is the
// first fence, but an abstract-namespace socket has no file and a mode is
// easy to get wrong; the kernel's word on the peer (SO_PEERCRED, read when
// the peer connects) is the one that counts. The pid a sender puts in its
// HELLO is only a label.
import type { PeerCredentials } from '../native.js'
import { ERR_HANDOFF_RECEIVER_OPTION } from '../errors.js'

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

function ids (value: unknown, name: string): number[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new ERR_HANDOFF_RECEIVER_OPTION(name, 'expected an array of non-negative integers')
  }
  return value as number[]
}

/** Default: only the receiver's own uid (not even root, unless the receiver runs as root). */
export function credentialPolicy (allow: Allowlist | undefined): CredentialPolicy {
  const ownUid = typeof process.getuid === 'function' ? process.getuid() : -1
  const uids = new Set(allow === undefined ? [ownUid] : ids(allow.uids, 'allow.uids'))
  const gids = new Set(allow === undefined ? [] : ids(allow.gids, 'allow.gids'))
  if (allow !== undefined && uids.size === 0 && gids.size === 0) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('allow', 'allows nobody: give at least one uid or gid')
  }
  return {
    allows: (creds) => uids.has(creds.uid) || gids.has(creds.gid),
    describe: () => `uids [${[...uids].join(', ')}], gids [${[...gids].join(', ')}]`
  }
}
