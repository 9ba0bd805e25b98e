// Shared by the receiver tests: child processes driven over IPC (every
// message kept, so a wait never misses one that came early), temporary socket
// directories, and small clients.
import fs from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { Child, FIXTURES, forkFixture as forkChild, spawnAs, stopChild as stopChildWith, type Message } from '../helpers/child.js'
import { rawClient } from '../helpers/clients.js'
import { tmpDir as freshDir } from '../helpers/tmp.js'
import { Channel, closeFds } from '../../plugin/channel.js'
import * as protocol from '../../plugin/protocol/index.js'
import { connectUnix, type UnixAddress } from '../../plugin/unix.js'

export { rawClient, clientFrame, serverFrames, WsClient, type RawClient } from '../helpers/clients.js'
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
  /** The HANDOFF's keepAlive (default: whether the request asked to close). */
  keepAlive?: boolean
  /** Run as this uid/gid through setpriv (the tests run as root). */
  asUser?: number
}

/** The test sender (receiver-sender.js), once it listens on TCP and has its channel (or failed to). */
export async function startSender (t: Test, address: { path?: string, abstract?: string }, options: SenderOptions = {}): Promise<Child & { port: number }> {
  const config = { ...address, ...options }
  let child: Child
  if (options.asUser !== undefined) {
    child = spawnAs(options.asUser, process.execPath, [path.join(FIXTURES, 'receiver-sender.js'), JSON.stringify(config)], 'sender')
  } else {
    child = forkFixture('receiver-sender.js', config, 'sender')
  }
  t.teardown(() => child.kill())
  const listening = await child.waitFor((msg) => msg.event === 'listening' || msg.event === 'fatal', 'listening')
  if (listening.event === 'fatal') throw new Error(`sender failed: ${listening.message}`)
  return Object.assign(child, { port: listening.port as number })
}

/**
 * One plain request through the test sender, served by receiver-raw.js:
 * resolves with the first line it answers (the handoff info, parsed) once
 * the client is closed.
 */
export async function requestThrough (sender: Child & { port: number }): Promise<Message> {
  const client = rawClient(sender.port)
  client.socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await sender.event('accept')
  const answer = (await client.ended).toString()
  await client.closed
  return JSON.parse(answer.split('\n')[0])
}

/**
 * A node:http web app handing off with the library's own sender
 * (test/fixtures/receiver-webapp.js: upgrades on any path, requests on /sse),
 * once it listens.
 */
export async function startWebapp (t: Test, sockPath: string, options: { context?: unknown, timeout?: number, grace?: number } = {}): Promise<Child & { port: number }> {
  const child = forkFixture('receiver-webapp.js', { path: sockPath, ...options }, 'webapp')
  t.teardown(() => child.kill())
  const { port } = await child.event('listening')
  return Object.assign(child, { port: port as number })
}

/** A receiver fixture and a web app handing off to it with the library's own sender, once its HELLO is in. */
export async function startPair (t: Test, kind: 'fastify' | 'ws' | 'raw', config: object = {},
  webappOptions: { context?: unknown, timeout?: number, grace?: number } = {}): Promise<{ receiver: Child, webapp: Child & { port: number } }> {
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const receiver = await startReceiver(t, kind, { path: sockPath, ...config })
  const webapp = await startWebapp(t, sockPath, webappOptions)
  await receiver.event('peer')
  return { receiver, webapp }
}

/** Ends a child the way the fixtures expect and checks it exited on its own, cleanly. */
export async function stopChild (t: Test, child: Child, cmd = 'exit'): Promise<void> {
  await stopChildWith(t, child, cmd)
}

/** A fresh directory for sockets (0700 unless `mode` says otherwise), removed at the end. */
export function tmpDir (t: Test, mode = 0o700): string {
  return freshDir(t, 'receiver-', mode)
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
