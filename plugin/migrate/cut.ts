// Cutting one WebSocket at a frame boundary, so that another process can
// parse the rest of the client's byte stream from exactly where this one
// stopped. The rules (../shared/ZERO-DOWNTIME-NOTES.md, checked here):
//  - reading stopped first, then the cut judged on what was read: the
//    receiver waiting for a frame header, no fragmented message, no inflate
//    running (keep reading stopped while it finishes, or under steady traffic
//    the cut never comes);
//  - mid-frame: read on until the frame is complete, then stop again (the
//    client decides when its frame ends: bounded by cutTimeout);
//  - the write side idle: ws's sender queue empty and Node's write queue
//    drained, since bytes handed to libuv cannot be taken back or counted
//    (bounded by drainTimeout);
//  - what moves: the bytes the receiver holds unparsed and what Node read
//    and did not deliver yet, in that order; the kernel keeps the rest;
//  - between the cut and the verdict the socket is corked: what the app
//    sends meanwhile is written if the connection stays (REJECT), dropped
//    with our copy if it moved.
import type { EventEmitter } from 'node:events'
import type net from 'node:net'
import { ReadHold, readAgain, socketFd, wsCutState, wsPaused, wsRetire, wsSocket, wsUnparsed, wsUnplugData } from '../internals.js'
import { drainReadable } from '../sender/detach.js'
import type { Tracked } from './registry.js'

/** Why a connection stayed in this process. */
export type KeptReason =
  | 'mid-frame' | 'busy' | 'write-backlog' | 'closing' | 'compression' | 'paused' | 'too-large'
  | 'refused' | 'unavailable' | 'lost' | 'timeout'

export interface Cut {
  fd: number
  socket: net.Socket
  /** The bytes already read and not parsed, in stream order. */
  unread: Buffer
  /** The new process owns it: no 'close' on the old WebSocket, our copy closed. */
  release (): void
  /** It stays: everything put back, reading again, corked writes flushed. */
  restore (): void
  /**
   * Nobody can say whether the new process took it (a verdict in doubt):
   * our copy is closed without writing a byte (never two writers); the
   * WebSocket closes here as if the client had gone (1006).
   */
  drop (): void
}

export type CutResult = { cut: Cut } | { kept: KeptReason } | { closed: true }

export interface CutOptions {
  /** ms to reach a frame boundary from the first look (a frame the client leaves incomplete). */
  cutTimeout: number
  /** ms for the write side to drain (a client that does not read). */
  drainTimeout: number
}

/** Resolves on the first of `events` on `emitter`, or after `ms`; removes its listeners either way. */
function nextEvent (emitter: EventEmitter, events: string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      for (const e of events) emitter.removeListener(e, done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(0, ms))
    for (const e of events) emitter.once(e, done)
  })
}

/**
 * A short wait for work ws does on its own (an inflate, a deferred event, a
 * write the kernel has not taken): the next turn of the loop first, then
 * 2 ms steps (a slow consumer would otherwise spin).
 */
function pause (spins: number): Promise<void> {
  return new Promise((resolve) => {
    if (spins < 8) setImmediate(resolve)
    else setTimeout(resolve, 2)
  })
}

export async function cutWebSocket (entry: Tracked, options: CutOptions): Promise<CutResult> {
  const { ws } = entry
  const socket = wsSocket(ws)
  if (socket === null || socket.destroyed) return { closed: true }
  if (wsCutState(ws) === 'closing') return { kept: 'closing' }
  if (entry.compression === 'missing') return { kept: 'compression' }
  if (wsPaused(ws)) return { kept: 'paused' }
  const fd = socketFd(socket)
  if (fd === null || fd < 0) return { closed: true }
  let hold = new ReadHold(socket)
  const start = Date.now()
  let spins = 0
  for (;;) {
    if (socket.destroyed || socketFd(socket) === null) {
      hold.lift()
      return { closed: true }
    }
    const state = wsCutState(ws)
    const elapsed = Date.now() - start
    if (state === 'clean') break
    if (state === 'closing') {
      hold.undo()
      return { kept: 'closing' }
    }
    if (state === 'sending') {
      if (elapsed >= options.drainTimeout) {
        hold.undo()
        return { kept: 'write-backlog' }
      }
      await pause(spins++)
      continue
    }
    if (elapsed >= options.cutTimeout) {
      hold.undo()
      // 'busy': its inflates never finished in time (a zlib queue shared by every connection).
      return { kept: state === 'inflating' ? 'busy' : 'mid-frame' }
    }
    if (state === 'inflating') {
      await pause(spins++)
      continue
    }
    // Mid-frame: the rest is in the kernel. Read on until a chunk arrives
    // (ws parses it before our listener runs), then stop and judge again.
    // (Reading is forced on: the hold may have found the handle stopped by
    // Node's own back-pressure, which a stopped reader never lifts.)
    hold.undo()
    readAgain(socket)
    await nextEvent(socket, ['data', 'close'], options.cutTimeout - elapsed)
    if (socket.destroyed || socketFd(socket) === null) return { closed: true }
    hold = new ReadHold(socket)
  }
  // Clean, now, in this turn: take what was read and not parsed.
  const unparsed = wsUnparsed(ws)
  const replug = wsUnplugData(ws)
  const drained = drainReadable(socket)
  hold.stopped()
  socket.cork()
  const finalHold = hold
  let settled = false
  return {
    cut: {
      fd,
      socket,
      unread: drained.length === 0 ? unparsed : Buffer.concat([unparsed, ...drained]),
      release () {
        if (settled) return
        settled = true
        wsRetire(ws)
        finalHold.lift()
        // The handle's own close: out of epoll, then close(2) of our copy;
        // the new process holds the connection, so nothing reaches the client.
        socket.destroy()
      },
      drop () {
        if (settled) return
        settled = true
        replug()
        finalHold.lift()
        socket.destroy()
      },
      restore () {
        if (settled) return
        settled = true
        replug()
        for (let i = drained.length - 1; i >= 0; i--) socket.unshift(drained[i])
        finalHold.undo()
        socket.uncork()
      }
    }
  }
}
