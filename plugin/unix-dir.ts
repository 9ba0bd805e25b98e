// Who else can write where the socket file lives. Whoever can write the
// socket's directory (or rename one of its ancestors) can move our socket
// away and put their own at its name: senders that check the receiver's uid
// then find no receiver (the service is down), those that allow that uid
// hand it their clients. No care in creating or removing the file can
// prevent that, so the directory itself is judged here, once, at listen.
import fs from 'node:fs'
import path from 'node:path'
import type { DirEntry } from './native.js'

const WRITE_GROUP_OTHER = 0o022
const STICKY = 0o1000

export interface DirectoryRisks {
  /** Another uid can move or replace the socket: refused unless the caller accepts it. */
  unsafe: string[]
  /** Only names not taken yet are exposed (a sticky shared directory such as /tmp): always just a warning. */
  notes: string[]
}

function judge (uid: number, mode: number, where: string, socketDir: boolean, euid: number, risks: DirectoryRisks): void {
  if (uid !== euid && uid !== 0) {
    risks.unsafe.push(`${where} belongs to uid ${uid}`)
  } else if ((mode & WRITE_GROUP_OTHER) !== 0) {
    const who = (mode & 0o002) !== 0 ? 'other users' : 'its group'
    if ((mode & STICKY) === 0) risks.unsafe.push(`${where} is writable by ${who}`)
    else if (socketDir) {
      risks.notes.push(`${where} is writable by ${who} (sticky): while nobody listens, another user can bind the name and senders would connect to them`)
    }
  }
}

/**
 * A directory is safe when it belongs to us or root and nobody else may
 * write it, or when it is sticky (others may add names but not move ours:
 * /tmp). The socket's own directory, if sticky and shared, still lets another
 * user bind the name while nobody listens: a note.
 *
 * Two walks: `chain` (from binding.openDirectory) is the directory the
 * socket really lives in and its real ancestors, found through descriptors;
 * the path as given is walked too, because a symlink on the way sits in a
 * directory of its own that whoever can write may retarget (senders connect
 * by the path). The second walk is by path: a configuration check, not the
 * safety of the file itself, which never depends on the path after listen.
 */
export function directoryRisks (chain: DirEntry[], dirPath: string, euid: number): DirectoryRisks {
  const risks: DirectoryRisks = { unsafe: [], notes: [] }
  let real = path.resolve(dirPath)
  try { real = fs.realpathSync(dirPath) } catch { /* for messages only: keep what was given */ }
  const judged = new Set<string>()
  chain.forEach((entry, level) => {
    const where = ancestor(real, level)
    judged.add(where)
    judge(entry.uid, entry.mode, where, level === 0, euid, risks)
  })
  for (let dir = path.resolve(dirPath); ; dir = path.dirname(dir)) {
    let stats: fs.Stats | null = null
    try {
      // Only the directories the walk by descriptors did not see (reached through a symlink).
      if (!judged.has(fs.realpathSync(dir))) stats = fs.statSync(dir)
    } catch { /* gone or unreachable: the descriptor walk has the word */ }
    if (stats !== null) judge(stats.uid, stats.mode & 0o7777, dir, false, euid, risks)
    if (path.dirname(dir) === dir) break
  }
  return { unsafe: [...new Set(risks.unsafe)], notes: [...new Set(risks.notes)] }
}

function ancestor (dir: string, level: number): string {
  for (let i = 0; i < level; i++) dir = path.dirname(dir)
  return dir
}
