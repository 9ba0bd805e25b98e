// Clients shared by the receiver, sender, Fastify and adapter tests: a raw
// TCP client that keeps everything it receives, and client WebSocket frames.
// Nothing here sleeps: every wait is for an event.
import crypto from 'node:crypto'
import net from 'node:net'

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
