// Clients for the migration tests: each sends numbered messages ("<n> …")
// and checks that the echoes ("<n>@<pid>") come back exactly once each, in
// order, and which process sent them. Waits are for events (every echo and
// close wakes them), bounded, and report what they waited for.
import net from 'node:net'
import path from 'node:path'
import WebSocket from 'ws'
import type { Test } from 'tap'
import { clientFrame, upgradeRequest } from '../helpers/clients.js'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { finishDeploy, startDeploy, type Deploy, type SiblingConfig } from '../helpers/sibling-deploy.js'
import { forkFixture, type Child } from '../helpers/child.js'
import { tmpDir } from '../helpers/tmp.js'

let waiters: Array<() => void> = []
/** Wakes every until() to check its condition again (call it on each event a test waits on). */
export function wake (): void {
  const w = waiters
  waiters = []
  for (const f of w) f()
}

/** Resolves once `ok()` holds (checked at every echo or close), or throws after `limitMs` with `what()`. */
export async function until (ok: () => boolean, what: () => string, limitMs = 60000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!ok()) {
    if (Date.now() >= deadline) throw new Error(`not within ${limitMs} ms: ${what()}`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadline - Date.now())
      waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }
}

export abstract class EchoClient {
  sent = 0
  received = 0
  readonly errors: string[] = []
  readonly pids = new Map<number, number>()
  closed: { code: number } | null = null
  lastPid = 0
  /** Padding after the number: repetitive text, so that compression refers back across messages. */
  padding = ' the quick brown fox jumps over the lazy dog'.repeat(3)

  protected echo (text: string): void {
    const at = text.indexOf('@')
    const n = Number(text.slice(0, at))
    const pid = Number(text.slice(at + 1))
    if (n !== this.received + 1) this.errors.push(`expected echo ${this.received + 1}, got ${text}`)
    this.received = n
    this.lastPid = pid
    this.pids.set(pid, (this.pids.get(pid) ?? 0) + 1)
    wake()
  }

  protected onClose (code: number): void {
    this.closed = { code }
    wake()
  }

  abstract open (): Promise<void>
  abstract send (text: string): void
  abstract end (): void

  next (): void {
    this.sent++
    this.send(`${this.sent}${this.padding}`)
  }
}

/** A `ws` client (optionally offering permessage-deflate, compressing every message). */
export class WsEcho extends EchoClient {
  ws!: WebSocket
  /** The server's Sec-WebSocket-Extensions answer (the negotiated parameters). */
  extensions = ''
  /** `windowBits`: the client's compression window it offers to limit itself to (client_max_window_bits). */
  constructor (private readonly url: string, private readonly deflate: boolean, private readonly windowBits?: number) { super() }

  async open (): Promise<void> {
    const deflate = this.windowBits === undefined ? { threshold: 0 } : { threshold: 0, clientMaxWindowBits: this.windowBits }
    this.ws = new WebSocket(this.url, { perMessageDeflate: this.deflate ? deflate : false })
    this.ws.once('upgrade', (res) => { this.extensions = String(res.headers['sec-websocket-extensions'] ?? '') })
    this.ws.on('message', (data) => this.echo(data.toString()))
    this.ws.on('close', (code) => this.onClose(code))
    this.ws.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
  }

  send (text: string): void { this.ws.send(text) }
  end (): void { this.ws.terminate() }
}

/**
 * A raw client that writes each frame in two packets, `gapMs` apart (a
 * pacing of the traffic, not a synchronisation), so that moves find it in
 * the middle of a frame. It offers no extension.
 */
export class SplitEcho extends EchoClient {
  socket!: net.Socket
  private buffer = Buffer.alloc(0)
  private chain: Promise<void> = Promise.resolve()
  private readonly frames: Array<{ opcode: number, payload: Buffer }> = []
  constructor (private readonly port: number, private readonly gapMs: number) { super() }

  async open (): Promise<void> {
    this.socket = net.connect(this.port, '127.0.0.1')
    this.socket.setNoDelay(true)
    this.socket.on('error', () => {})
    this.socket.on('close', () => { if (this.closed === null) this.onClose(1006) })
    const { text } = upgradeRequest('/ws', this.port)
    let head = true
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject)
      this.socket.on('data', (data) => {
        this.buffer = Buffer.concat([this.buffer, data])
        if (head) {
          const end = this.buffer.indexOf('\r\n\r\n')
          if (end < 0) return
          if (!this.buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101')) reject(new Error(this.buffer.toString()))
          this.buffer = this.buffer.subarray(end + 4)
          head = false
          resolve()
        }
        this.parse()
      })
      this.socket.write(text)
    })
  }

  private parse (): void {
    for (;;) {
      const b = this.buffer
      if (b.length < 2) return
      let length = b[1] & 0x7f
      let begin = 2
      if (length === 126) {
        if (b.length < 4) return
        length = b.readUInt16BE(2)
        begin = 4
      } else if (length === 127) {
        if (b.length < 10) return
        length = Number(b.readBigUInt64BE(2))
        begin = 10
      }
      if (b.length < begin + length) return
      const opcode = b[0] & 0x0f
      const payload = b.subarray(begin, begin + length)
      this.buffer = b.subarray(begin + length)
      if (opcode === 8) {
        // As a browser does: the close frame echoed, then the end.
        this.onClose(payload.length >= 2 ? payload.readUInt16BE(0) : 1005)
        if (!this.socket.destroyed) this.socket.end(clientFrame(8, payload))
      } else if (opcode === 1) this.echo(payload.toString())
      else this.frames.push({ opcode, payload })
    }
  }

  /** Binary payload bytes received so far (flood tests). */
  binaryBytes (): number {
    return this.frames.reduce((n, f) => n + (f.opcode === 2 || f.opcode === 0 ? f.payload.length : 0), 0)
  }

  send (text: string): void {
    const frame = clientFrame(1, text)
    const cut = 1 + Math.floor(frame.length / 2)
    this.chain = this.chain.then(async () => {
      if (this.socket.destroyed) return
      this.socket.write(frame.subarray(0, cut))
      await new Promise((resolve) => setTimeout(resolve, this.gapMs))
      if (!this.socket.destroyed) this.socket.write(frame.subarray(cut))
    })
  }

  end (): void { this.socket.destroy() }
}

/** Opens `clients`, `parallel` at a time. */
export async function openAll (clients: EchoClient[], parallel = 50): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < clients.length) await clients[next++].open()
  }))
}

/** Every client sends its next number every `intervalMs` (each with its own phase); returns stop(). */
export function traffic (clients: EchoClient[], intervalMs: number): () => void {
  const timers: NodeJS.Timeout[] = []
  clients.forEach((c, i) => {
    const phase = Math.floor((i * intervalMs) / clients.length)
    timers.push(setTimeout(() => {
      c.next()
      timers.push(setInterval(() => { if (c.closed === null) c.next() }, intervalMs))
    }, phase))
  })
  return () => { for (const t of timers) clearTimeout(t) }
}

/** Echo errors, unexpected closes and pid counts over `clients`, for assertions. */
export function summary (clients: EchoClient[]): { errors: string[], closed: number, lagging: number } {
  return {
    errors: clients.flatMap((c) => c.errors).slice(0, 10),
    closed: clients.filter((c) => c.closed !== null).length,
    lagging: clients.filter((c) => c.received !== c.sent).length
  }
}

/**
 * The deploy under traffic that move.test.ts and deflate.test.ts run: every
 * WebSocket moves from the old sibling to the new one while its client keeps
 * sending numbered messages; every number is echoed exactly once, in order,
 * the later ones by the new process; no client sees a close; the old
 * process's "close" logic never runs for a moved connection; no process
 * leaks a descriptor.
 */
export async function deployUnderTraffic (t: Test, config: SiblingConfig, make: (port: number, i: number) => EchoClient,
  count: number, interval: number, checkOpened: (clients: EchoClient[]) => void = () => {}): Promise<void> {
  checkFdLeaks(t)
  const d = await startDeploy(t, config)
  const clients = Array.from({ length: count }, (_, i) => make(d.port, i))
  await openAll(clients)
  checkOpened(clients)
  const stop = traffic(clients, interval)
  await until(() => clients.every((c) => c.received >= 2), () => `2 echoes each before the move: ${JSON.stringify(summary(clients))}`)
  const sentAtMove = clients.map((c) => c.sent)
  const { report } = await d.old.request('move', { address: d.nextPath })
  t.same(report.kept, {}, 'nothing was kept')
  t.equal(report.closed, 0, 'nothing closed during the move')
  t.equal(report.moved, count, `all ${count} WebSockets moved (in ${report.ms} ms, ${report.sweeps} sweep(s))`)
  // Every client goes on, answered by the new process.
  // (A close ends the wait: the assertions below then say what went wrong.)
  await until(() => clients.every((c, i) => c.closed !== null || (c.lastPid === d.next.pid && c.received > sentAtMove[i])),
    () => `echoes from the new sibling: ${clients.filter((c) => c.lastPid !== d.next.pid).length} not yet; ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.received === c.sent || c.closed !== null),
    () => `the last echoes: ${JSON.stringify(summary(clients))}`)
  const s = summary(clients)
  t.same(s.errors, [], 'every number echoed exactly once, in order')
  t.equal(s.closed, 0, 'no client saw a close')
  t.equal(s.lagging, 0, 'every message sent was echoed')
  t.ok(clients.every((c) => c.pids.has(d.old.pid) && c.pids.has(d.next.pid)), 'each client was served by both processes')
  const oldStats = await d.old.request('stats')
  t.equal(oldStats.closes, 0, 'the old sibling\'s "close" logic ran for no moved WebSocket')
  t.equal(oldStats.migrated, count, '\'migrated\' was emitted for each instead')
  t.equal(oldStats.tracked, 0, 'the old sibling holds none')
  const nextStats = await d.next.request('stats')
  t.equal(nextStats.resumed, count, 'the new sibling resumed each through its resume hook')
  t.equal(nextStats.opened, 0, 'and never through \'connection\'')
  t.equal(await fdsBackTo(d.old.pid, d.baseline.old), d.baseline.old, 'the old sibling holds no descriptor of a moved connection')
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(d.next.pid, d.baseline.next), d.baseline.next, 'the new sibling is back to its descriptors once the clients left')
  t.equal(await fdsBackTo(d.web.pid, d.baseline.web), d.baseline.web, 'the web app holds no descriptor of a handed-off connection')
  await finishDeploy(t, d)
}

/**
 * Ends `clients` and waits for their closes, checks that none of the
 * deploy's three processes holds a descriptor more than before any client,
 * and ends the deploy.
 */
export async function endDeploy (t: Test, d: Deploy, clients: EchoClient[]): Promise<void> {
  for (const c of clients) c.end()
  await until(() => clients.every((c) => c.closed !== null), () => 'clients closing')
  t.equal(await fdsBackTo(d.old.pid, d.baseline.old), d.baseline.old, 'old sibling: no descriptor left')
  t.equal(await fdsBackTo(d.next.pid, d.baseline.next), d.baseline.next, 'new sibling: no descriptor left')
  t.equal(await fdsBackTo(d.web.pid, d.baseline.web), d.baseline.web, 'web app: no descriptor left')
  await finishDeploy(t, d)
}

/** A client of the raw siblings' line protocol: each line "<n>" is answered "<n>@<pid>". */
export interface LineClient {
  socket: net.Socket
  sent: number
  got: number
  errors: string[]
  pids: Set<number>
  lastPid: number
  closed: boolean
}

/** Connects a line client to `host`:`port`; every answer and the close wake until(). */
export async function lineClient (port: number, host = '127.0.0.1'): Promise<LineClient> {
  const socket = net.connect(port, host)
  socket.setNoDelay(true)
  await new Promise((resolve) => socket.once('connect', resolve))
  const c: LineClient = { socket, sent: 0, got: 0, errors: [], pids: new Set(), lastPid: 0, closed: false }
  let buf = ''
  socket.on('data', (d) => {
    const parts = (buf + d.toString()).split('\n')
    buf = parts.pop() as string
    for (const line of parts) {
      const [n, pid] = line.split('@').map(Number)
      if (n !== c.got + 1) c.errors.push(`expected ${c.got + 1}, got ${line}`)
      c.got = n
      c.pids.add(pid)
      c.lastPid = pid
    }
    wake()
  })
  socket.on('close', () => { c.closed = true; wake() })
  return c
}

/**
 * Each client sends its next line in two writes, 2 ms apart, every 7 ms (a
 * pacing, so that a move finds partial lines in the parsers), until the
 * returned stop(), which resolves once every client has stopped.
 */
export function pumpLines (clients: LineClient[]): () => Promise<void> {
  let stopped = false
  const pump = clients.map(async (c) => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
    while (!stopped && !c.closed) {
      const line = `${++c.sent}\n`
      c.socket.write(line.slice(0, 1))
      await new Promise((resolve) => setTimeout(resolve, 2))
      c.socket.write(line.slice(1))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })
  return async () => {
    stopped = true
    await Promise.all(pump)
  }
}

/**
 * A loopback TCP server in this process (the test plays the old sibling):
 * its port, and `accepted()`, this process's end of the next connection.
 * Closed at the end of `t`.
 */
export async function ownServer (t: Test): Promise<{ port: number, accepted: () => Promise<net.Socket> }> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  return { port, accepted: async () => await new Promise<net.Socket>((resolve) => server.once('connection', resolve)) }
}

/** A new sibling alone (test/fixtures/`fixture`), ready, on a socket of its own: for tests that play the old one. */
export async function newSibling (t: Test, fixture: string): Promise<{ next: Child, address: string }> {
  const address = path.join(tmpDir(t, 'handoff-migrate-'), 'next.sock')
  const next = forkFixture(fixture, { path: address }, 'new sibling', t)
  await next.event('ready')
  return { next, address }
}
