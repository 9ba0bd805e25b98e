// Shared by the receiver tests: child processes driven over IPC (every
// message kept, so a wait never misses one that came early), temporary socket
// directories, and small clients.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { Child, FIXTURES, childEnv, forkFixture as forkChild, stopChild as stopChildWith } from '../helpers/child.js'
import { rawClient, clientFrame, type RawClient } from '../helpers/clients.js'
import { Channel, closeFds } from '../../plugin/channel.js'
import * as protocol from '../../plugin/protocol/index.js'
import { connectUnix, type UnixAddress } from '../../plugin/unix.js'

export { rawClient, clientFrame, type RawClient }
export { Child, FIXTURES, childEnv, type Message } from '../helpers/child.js'

export function forkFixture (fixture: string, config: object, label: string): Child {
  return forkChild(fixture, config, label)
}

/** A receiver fixture (receiver-fastify.js, receiver-ws.js, receiver-raw.js), once it listens. */
export async function startReceiver (t: Test, kind: 'fastify' | 'ws' | 'raw', config: object): Promise<Child> {
  const child = forkFixture(`receiver-${kind}.js`, config, `receiver-${kind}`)
  t.teardown(() => child.kill())
  await child.event('ready')
  return child
}

export interface SenderOptions {
  context?: unknown
  target?: string
  kind?: string
  /** Run as this uid/gid through setpriv (the tests run as root). */
  asUser?: number
}

/** The test sender (receiver-sender.js), once it listens on TCP and has its channel (or failed to). */
export async function startSender (t: Test, address: { path?: string, abstract?: string }, options: SenderOptions = {}): Promise<Child & { port: number }> {
  const config = { ...address, ...options }
  let child: Child
  if (options.asUser !== undefined) {
    const id = String(options.asUser)
    // `env -u`: tap's process-info hook puts NODE_OPTIONS back into every
    // spawn; under another uid it could not write its report into .tap/.
    const proc = spawn('setpriv', [`--reuid=${id}`, `--regid=${id}`, '--clear-groups', 'env', '-u', 'NODE_OPTIONS', process.execPath,
      path.join(FIXTURES, 'receiver-sender.js'), JSON.stringify(config)], { env: childEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child = new Child(proc, `sender(uid ${id})`)
  } else {
    child = forkFixture('receiver-sender.js', config, 'sender')
  }
  t.teardown(() => child.kill())
  const listening = await child.waitFor((msg) => msg.event === 'listening' || msg.event === 'fatal', 'listening')
  if (listening.event === 'fatal') throw new Error(`sender failed: ${listening.message}`)
  return Object.assign(child, { port: listening.port as number })
}

/** Ends a child the way the fixtures expect and checks it exited on its own, cleanly. */
export async function stopChild (t: Test, child: Child, cmd = 'exit'): Promise<void> {
  await stopChildWith(t, child, cmd)
}

/** A fresh directory for sockets, removed at the end. */
export function tmpDir (t: Test, mode = 0o700): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'receiver-'))
  fs.chmodSync(dir, mode)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A WebSocket client that queues messages and records how it closed. */
export class WsClient {
  readonly ws: WebSocket
  private readonly queue: string[] = []
  private wake: (() => void) | null = null
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number, reason: string }>

  constructor (url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (data) => {
      this.queue.push(data.toString())
      this.wake?.()
    })
    this.ws.on('error', () => {}) // surfaces through `opened` and `closed`
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
      this.ws.once('unexpected-response', (req, res) => {
        reject(new Error(`unexpected response ${String(res.statusCode)}`))
        res.resume()
        this.ws.terminate() // ws leaves an unexpected response to us: abort the handshake, emit 'close'
      })
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.wake?.()
      })
    })
  }

  async next (): Promise<string> {
    while (this.queue.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('closed while waiting for a message')
      await new Promise<void>((resolve) => { this.wake = resolve })
      this.wake = null
    }
    return this.queue.shift() as string
  }

  send (data: string | Buffer): void { this.ws.send(data) }
}



/** Parses unmasked server frames from `data`: [{ opcode, payload }], stopping at an incomplete one. */
export function serverFrames (data: Buffer): Array<{ opcode: number, payload: Buffer }> {
  const out: Array<{ opcode: number, payload: Buffer }> = []
  let offset = 0
  while (data.length - offset >= 2) {
    const opcode = data[offset] & 0x0f
    let length = data[offset + 1] & 0x7f
    let start = offset + 2
    if (length === 126) {
      if (data.length - offset < 4) break
      length = data.readUInt16BE(offset + 2)
      start = offset + 4
    } else if (length === 127) {
      if (data.length - offset < 10) break
      length = Number(data.readBigUInt64BE(offset + 2))
      start = offset + 10
    }
    if (data.length < start + length) break
    out.push({ opcode, payload: data.subarray(start, start + length) })
    offset = start + length
  }
  return out
}

export const setprivAvailable = (): boolean => {
  try {
    return fs.existsSync('/usr/bin/setpriv') || fs.existsSync('/bin/setpriv')
  } catch {
    return false
  }
}

/**
 * The test process itself as a protocol peer (a sender that can misbehave):
 * every frame it reads is kept, decoded, for waitFor().
 */
export class TestPeer {
  readonly channel: Channel
  readonly frames: protocol.Message[] = []
  private readonly taken = new Set<number>()
  private waiters: Array<() => void> = []
  ended = false
  readonly closed: Promise<void>

  private constructor (fd: number) {
    this.channel = new Channel(fd, protocol.protocolFramer)
    this.channel.on('message', (frame, fds) => {
      closeFds(fds)
      this.frames.push(protocol.decodeMessage(frame))
      this.wake()
    })
    this.channel.on('error', () => {})
    this.closed = new Promise((resolve) => this.channel.once('close', () => {
      this.ended = true
      resolve()
      this.wake()
    }))
  }

  static async connect (address: UnixAddress, hello: boolean | Partial<protocol.HelloInit> = true): Promise<TestPeer> {
    const peer = new TestPeer(await connectUnix(address))
    if (hello !== false) {
      await peer.channel.send(protocol.encodeHello({ role: 'sender', pid: process.pid, ...(hello === true ? {} : hello) }))
    }
    return peer
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  async waitFor (type: protocol.FrameType, match: (m: protocol.Message) => boolean = () => true): Promise<protocol.Message> {
    for (;;) {
      for (let i = 0; i < this.frames.length; i++) {
        if (!this.taken.has(i) && this.frames[i].type === type && match(this.frames[i])) {
          this.taken.add(i)
          return this.frames[i]
        }
      }
      if (this.ended) throw new Error(`channel closed while waiting for ${protocol.FRAME_TYPE_NAMES[type]}; got ${JSON.stringify(this.frames.map((f) => [protocol.FRAME_TYPE_NAMES[f.type], f.body]))}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** The verdict (ACCEPT or REJECT) for handoff `id`. */
  verdict (id: number): Promise<protocol.Message> {
    return Promise.race([
      this.waitFor(protocol.FrameType.Accept, (m) => m.id === id),
      this.waitFor(protocol.FrameType.Reject, (m) => m.id === id)
    ])
  }

  /** Sends a HANDOFF for `fd` (kept open here: the receiver gets its own copy). */
  handoff (id: number, fd: number, meta: Partial<protocol.HandoffMeta> = {}, head = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'): Promise<void> {
    const frame = protocol.encodeHandoff(id, {
      meta: { kind: 'request', keepAlive: true, sentAt: Date.now(), ...meta },
      head: Buffer.from(head),
      buffered: Buffer.alloc(0)
    })
    return this.channel.send(frame, [fd])
  }

  close (): Promise<void> {
    this.channel.close()
    return this.closed
  }
}
