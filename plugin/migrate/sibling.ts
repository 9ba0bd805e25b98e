// A sibling deploy, end to end (issue 14, item 1 with item 2): each version
// of the sibling starts with startSibling(). The first binds its receiver's
// path; every later one takes the running one's listening socket over
// (plugin/takeover/: the path never stops answering), and the moment it is
// ready the old one stops accepting, sends its senders GOODBYE "handover"
// (they reconnect to the same path: the new one), still ACCEPTs the
// handoffs that crossed that, and moves every WebSocket it holds to the new
// one, twice (the second pass takes what was still being upgraded during
// the first). What cannot move is served until the hard stop closes it with
// 1012. The report: 'moved'; the end: 'retired' (exit then).
import { EventEmitter } from 'node:events'
import { ERR_HANDOFF_MIGRATE_OPTION } from '../errors.js'
import { adoptUnixListener } from '../unix.js'
import { createReceiver, type Receiver, type ReceiverOptions } from '../receiver/receiver.js'
import { takeover, type Generation, type TakeoverOptions } from '../takeover/index.js'
import type { Migration } from './migration.js'
import type { MigrationReport, MoveOptions } from './move.js'
import { logLine } from '../takeover/log.js'

export interface SiblingOptions extends Omit<TakeoverOptions, 'log'> {
  /** The receiver's options; `path` is required (the socket taken over, generation after generation). */
  receiver: Omit<ReceiverOptions, 'listener' | 'abstract'> & { path: string }
  /** This sibling's migration (wsMigration() or app.handoffMigration). */
  migration: Migration
  move?: MoveOptions
  /** ms an old sibling serves the connections it could not move before closing them with 1012 (default 30000). */
  hardStop?: number
  /** ms to wait for the senders to leave after GOODBYE "handover" (default 5000). */
  sendersTimeout?: number
  log?: TakeoverOptions['log']
}

export interface SiblingEvents {
  /** This (old) sibling moved its WebSockets to the new one. */
  moved: [report: MigrationReport]
  /** The hard stop closed what stayed; nothing is left to serve. */
  retired: [info: { report: MigrationReport, closedAtHardStop: number }]
}

const RECEIVER = 'receiver'

export class Sibling extends EventEmitter<SiblingEvents> {
  constructor (readonly receiver: Receiver, readonly generation: Generation) { super() }
}

function merged (first: MigrationReport, second: MigrationReport): MigrationReport {
  return {
    moved: first.moved + second.moved,
    // The second pass tried again what the first kept: its verdict is the final one.
    kept: second.kept,
    closed: first.closed + second.closed,
    ms: first.ms + second.ms,
    sweeps: first.sweeps + second.sweeps
  }
}

export async function startSibling (options: SiblingOptions): Promise<Sibling> {
  const path = options.receiver?.path
  if (typeof path !== 'string' || path.length === 0) throw new ERR_HANDOFF_MIGRATE_OPTION('receiver.path', 'expected the receiver\'s socket path')
  const hardStop = options.hardStop ?? 30000
  const log = logLine(options.log) ?? (() => {})
  const generation = await takeover({ ...options, log })
  let receiver: Receiver
  try {
    const claimed = generation.claim(RECEIVER)
    const listener = claimed === null ? undefined : adoptUnixListener(claimed.fd, path, claimed.identity)
    receiver = await createReceiver({ ...options.receiver, ...(listener === undefined ? {} : { listener }) })
  } catch (err) {
    generation.close()
    throw err
  }
  const { migration } = options
  migration.attach(receiver)
  generation.offer({ name: RECEIVER, kind: 'unix', address: path, fd: () => receiver.socket.fd, identity: receiver.socket.identity })
  const sibling = new Sibling(receiver, generation)
  generation.once('handover', () => {
    void (async () => {
      const sendersGone = receiver.handOver(options.sendersTimeout ?? 5000)
      const first = await migration.moveTo(path, options.move)
      await sendersGone
      // Upgrades of handoffs that crossed the GOODBYE complete a turn later.
      await new Promise((resolve) => setImmediate(resolve))
      const report = merged(first, await migration.moveTo(path, options.move))
      log('info', `sibling moved ${report.moved} WebSocket(s) to its successor in ${report.ms} ms; kept ${JSON.stringify(report.kept)}, closed ${report.closed}`)
      if ((report.kept.lost ?? 0) + (report.kept.unavailable ?? 0) > 0) {
        // The successor went away: nobody else accepts on the socket. This
        // one serves it again, with everything it kept (it cannot hand over
        // a second time: deploy again by restarting the whole service).
        receiver.takeBack()
        log('warn', 'the successor went away during the move: this sibling serves the socket again')
        sibling.emit('moved', report)
        return
      }
      receiver.releaseSocket()
      sibling.emit('moved', report)
      const left = migration.size
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, hardStop))
      const closedAtHardStop = left > 0 ? await migration.closeKept() : 0
      migration.close()
      await receiver.close()
      generation.close()
      sibling.emit('retired', { report, closedAtHardStop })
    })().catch((err) => log('warn', `sibling handover failed: ${String(err)}`))
  })
  try {
    await generation.ready()
  } catch (err) {
    await receiver.close()
    generation.close()
    throw err
  }
  return sibling
}
