// Clients shared by the receiver, sender, Fastify and adapter tests: a raw
// TCP client that keeps everything it receives, a `ws` client whose messages
// can be awaited, an upgrade request, and WebSocket frames both ways.
// Nothing here sleeps: every wait is for an event.
import crypto from 'node:crypto'
import type http from 'node:http'
import net from 'node:net'
import WebSocket from 'ws'
import type { Message } from './child.js'

export interface RawClient {
  socket: net.Socket
  connected: Promise<void>
  /** The client's own port, once connected. */
  localPort: Promise<number>
  received: () => Buffer
  ended: Promise<Buffer>
  closed: Promise<void>
  waitFor: (predicate: (data: Buffer) => boolean) => Promise<Buffer>
}

/** A raw TCP client to 127.0.0.1:`port`, collecting everything it receives. */
export function rawClient (port: number): RawClient {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const localPort = connected.then(() => socket.localPort as number)
  const chunks: Buffer[] = []
  let waiters: Array<() => void> = []
  const wake = (): void => {
    const w = waiters
    waiters = []
    for (const f of w) f()
  }
  const all = (): Buffer => Buffer.concat(chunks)
  socket.on('data', (data) => {
    chunks.push(data)
    wake()
  })
  socket.on('error', () => {})
  const ended = new Promise<Buffer>((resolve) => socket.once('end', () => resolve(all())))
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    resolve()
    wake()
  }))
  const waitFor = async (predicate: (data: Buffer) => boolean): Promise<Buffer> => {
    for (;;) {
      const data = all()
      if (predicate(data)) return data
      if (socket.destroyed) throw new Error(`socket closed; received ${JSON.stringify(data.toString('latin1').slice(0, 500))}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { socket, connected, localPort, received: all, ended, closed, waitFor }
}

/** A masked client WebSocket frame (RFC 6455), unfragmented. */
export function clientFrame (opcode: number, payload: Buffer | string): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
  const mask = crypto.randomBytes(4)
  const masked = Buffer.from(data)
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3]
  let header: Buffer
  if (data.length < 126) header = Buffer.from([0x80 | opcode, 0x80 | data.length])
  else if (data.length < 65536) header = Buffer.from([0x80 | opcode, 0x80 | 126, data.length >> 8, data.length & 0xff])
  else throw new Error('frame too large for this helper')
  return Buffer.concat([header, mask, masked])
}

/** A `ws` client that queues messages and records the handshake response and how it closed. */
export class WsClient {
  readonly ws: WebSocket
  private readonly queue: string[] = []
  private waiters: Array<() => void> = []
  readonly opened: Promise<http.IncomingMessage>
  readonly closed: Promise<{ code: number, reason: string }>
  /** The client's TCP port, once connected. */
  localPort: number | undefined

  constructor (url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options)
    this.ws.on('message', (data) => {
      this.queue.push(data.toString())
      this.wake()
    })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('upgrade', (res) => {
        this.localPort = res.socket.localPort
        resolve(res)
      })
      this.ws.on('error', reject)
      this.ws.once('unexpected-response', (req, res) => {
        const err = Object.assign(new Error(`unexpected response ${String(res.statusCode)}`), { statusCode: res.statusCode, headers: res.headers })
        reject(err)
        // With a listener for it, ws leaves the aborted handshake to us.
        res.resume()
        res.once('end', () => this.ws.terminate())
      })
    })
    this.opened.catch(() => {})
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.wake()
      })
    })
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  async next (): Promise<string> {
    while (this.queue.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('closed while waiting for a message')
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    return this.queue.shift() as string
  }

  async nextJson (): Promise<Message> { return JSON.parse(await this.next()) }

  send (data: string | Buffer): void { this.ws.send(data) }
}

export function upgradeRequest (pathname: string, port: number, extra = ''): { text: string, key: string } {
  const key = crypto.randomBytes(16).toString('base64')
  const text = `GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  return { text, key }
}

/** Unmasked server frames after the handshake response in `data`; stops at an incomplete one. */
export function serverFrames (data: Buffer): Array<{ opcode: number, payload: Buffer }> {
  const start = data.indexOf('\r\n\r\n')
  const out: Array<{ opcode: number, payload: Buffer }> = []
  if (start < 0) return out
  let offset = start + 4
  while (data.length - offset >= 2) {
    const opcode = data[offset] & 0x0f
    let length = data[offset + 1] & 0x7f
    let begin = offset + 2
    if (length === 126) {
      if (data.length - offset < 4) break
      length = data.readUInt16BE(offset + 2)
      begin = offset + 4
    } else if (length === 127) {
      if (data.length - offset < 10) break
      length = Number(data.readBigUInt64BE(offset + 2))
      begin = offset + 10
    }
    if (data.length < begin + length) break
    out.push({ opcode, payload: data.subarray(begin, begin + length) })
    offset = begin + length
  }
  return out
}
