// Shared by the sender, Fastify, adapter and type tests: child processes
// driven over IPC (siblings, web apps), socket directories, clients (a `ws`
// client, a raw TCP client, a keep-alive HTTP client), and WebSocket frames.
// Nothing here sleeps: every wait is for an event.
import http from 'node:http'
import type net from 'node:net'
import type { Test } from 'tap'
import { Sender, type HandoffResult, type SenderOptions } from '../../plugin/sender/index.js'
import type { Link } from '../../plugin/sender/link.js'
import { Child, forkFixture as forkChild, stopChild as stopChildWith, type Message } from '../helpers/child.js'
import { rawClient, type RawClient } from '../helpers/clients.js'
import { tmpDir as freshDir } from '../helpers/tmp.js'

export { rawClient, clientFrame, serverFrames, upgradeRequest, WsClient, type RawClient } from '../helpers/clients.js'
export { Child, FIXTURES, type Message } from '../helpers/child.js'

export function forkFixture (t: Test, fixture: string, config: object, label = fixture): Child {
  return forkChild(fixture, config, label, t)
}

/**
 * The library's own receiver (createReceiver) in a child process, once it
 * listens: in an unmodified Fastify + @fastify/websocket app
 * (test/fixtures/receiver-fastify.js), a node:http + ws app (receiver-ws.js),
 * a plain node:http app (receiver-http.js) or a raw 'handoff' consumer
 * (receiver-raw.js). `config` is the receiver's options (see receiver-common.js).
 */
export async function startSibling (t: Test, config: { path: string, maxConnections?: number, targets?: string[], helloTimeout?: number },
  kind: 'fastify' | 'ws' | 'raw' | 'http' = 'fastify'): Promise<Child> {
  const child = forkFixture(t, `receiver-${kind}.js`, config, `sibling(${kind})`)
  await child.event('ready')
  return child
}

/** The misbehaving receiver (test/fixtures/sibling-faulty.js), once it listens. */
export async function startFaulty (t: Test, config: { path: string, mode?: string }): Promise<Child> {
  const child = forkFixture(t, 'sibling-faulty.js', config, 'faulty sibling')
  await child.event('ready')
  return child
}

/** Ends a child the way its fixture expects and checks it exited on its own, with code 0. */
export async function stopChild (t: Test, child: Child, cmd = 'close'): Promise<void> {
  await stopChildWith(t, child, cmd)
}

/** A fresh 0700 directory for Unix sockets, removed at the end. */
export function tmpDir (t: Test): string {
  return freshDir(t, 'handoff-sender-')
}

/** One keep-alive HTTP/1.1 connection, one request at a time (for "the next request on it"). */
export class KeepAliveClient {
  readonly raw: RawClient
  private consumed = 0

  constructor (port: number) {
    this.raw = rawClient(port)
  }

  /** Sends a GET and resolves with the parsed response (Content-Length or chunked bodies). */
  async get (pathname: string, headers = ''): Promise<{ status: number, headers: Record<string, string>, body: string, raw: string }> {
    this.raw.socket.write(`GET ${pathname} HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`)
    let parsed: ReturnType<typeof parseResponse> = null
    await this.raw.waitFor((data) => {
      parsed = parseResponse(data.subarray(this.consumed))
      return parsed !== null
    })
    const response = parsed as unknown as NonNullable<ReturnType<typeof parseResponse>>
    this.consumed += response.length
    return response
  }

  close (): Promise<void> {
    this.raw.socket.end()
    return this.raw.closed
  }
}

/** A whole HTTP response at the start of `data`, or null if it is not complete yet. */
export function parseResponse (data: Buffer): { status: number, headers: Record<string, string>, body: string, raw: string, length: number } | null {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) return null
  const headText = data.subarray(0, end).toString('latin1')
  const [statusLine, ...lines] = headText.split('\r\n')
  const status = Number(statusLine.split(' ')[1])
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let offset = end + 4
  let body = ''
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    if (data.length < offset + length) return null
    body = data.subarray(offset, offset + length).toString('utf8')
    offset += length
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = []
    for (;;) {
      const lineEnd = data.indexOf('\r\n', offset)
      if (lineEnd < 0) return null
      const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16)
      if (data.length < lineEnd + 2 + size + 2) return null
      chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
      offset = lineEnd + 2 + size + 2
      if (size === 0) break
    }
    body = Buffer.concat(chunks).toString('utf8')
  } else if (status === 101 || status === 204 || status === 304) {
    body = ''
  } else {
    return null // a body up to the end of the connection: not used by these tests
  }
  return { status, headers, body, raw: data.subarray(0, offset).toString('latin1'), length: offset }
}

/** Events of a chunked SSE body received so far ("data: ..." lines). */
export function sseEvents (text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6))
}

/** How long waitFor() waits for a log line before failing with what was logged. */
const LOG_WAIT_LIMIT_MS = 20000

/**
 * A logger collecting what the plugin logs (pino's shape), for assertions on
 * typed errors; waitFor() resolves with the first line that matches, now or
 * later (a line logged from a reconnect loop, not in answer to a request).
 */
export function captureLogger (): { lines: Message[], logger: any, waitFor: (match: (line: Message) => boolean, what: string) => Promise<Message> } {
  const lines: Message[] = []
  let waiters: Array<() => void> = []
  const make = (bindings: Message): any => {
    const log = (level: string) => (obj: unknown, msg?: string) => {
      const entry: Message = { level, ...bindings }
      if (typeof obj === 'string') entry.msg = obj
      else Object.assign(entry, obj as object, msg === undefined ? {} : { msg })
      lines.push(entry)
      const w = waiters
      waiters = []
      for (const wake of w) wake()
    }
    return {
      level: 'info',
      fatal: log('fatal'),
      error: log('error'),
      warn: log('warn'),
      info: log('info'),
      debug: log('debug'),
      trace: log('trace'),
      silent: () => {},
      child: (more: Message) => make({ ...bindings, ...more })
    }
  }
  const waitFor = async (match: (line: Message) => boolean, what: string): Promise<Message> => {
    const deadline = Date.now() + LOG_WAIT_LIMIT_MS
    for (;;) {
      const line = lines.find(match)
      if (line !== undefined) return line
      if (Date.now() >= deadline) throw new Error(`no log line ${what} within ${LOG_WAIT_LIMIT_MS} ms: ${JSON.stringify(lines.map((l) => l.msg))}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }
  return { lines, logger: make({}), waitFor }
}

/** Listens on 127.0.0.1 and, at the end of `t`, closes `sender` then `server` (its connections too); resolves with the port. */
export async function listenClosing (t: Test, server: http.Server, sender: { close: () => Promise<void> }): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await sender.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as { port: number }).port
}

/** A node:http web app whose every upgrade goes to one target of an in-process Sender (the library's own). */
export interface UpgradeApp {
  sender: Sender
  port: number
  results: HandoffResult[]
  /**
   * Resolves once `count` upgrades have been given to the sender. Detaching
   * an upgrade and writing its HANDOFF are synchronous, so from then on the
   * HANDOFF is in the channel (or the handoff is waiting for a receiver).
   */
  started: (count: number) => Promise<void>
  /** Resolves once `count` handoffs have a result. */
  settled: (count: number) => Promise<HandoffResult[]>
}

export async function upgradeApp (t: Test, options: SenderOptions, target: string): Promise<UpgradeApp> {
  const sender = new Sender(options)
  const results: HandoffResult[] = []
  let starts = 0
  let waiters: Array<() => void> = []
  const wake = (): void => { const w = waiters; waiters = []; for (const f of w) f() }
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise<void>((resolve) => waiters.push(resolve))
  }
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void sender.handoffUpgrade(req, socket, head, { target, context: { url: req.url } }).then((r) => {
      results.push(r)
      wake()
    })
    starts++
    wake()
  })
  const port = await listenClosing(t, server, sender)
  return {
    sender,
    port,
    results,
    started: async (count) => await until(() => starts >= count),
    settled: async (count) => { await until(() => results.length >= count); return results }
  }
}

/** What a client of a raw upgrade got: the raw receiver's JSON line (it then echoes), or an HTTP answer from the web app. */
export interface Offered {
  status: number
  /** The raw receiver's handoff info (status 200): pid, id, context, remotePort... */
  info: any
  client: RawClient
}

/**
 * A raw upgrade (not WebSocket) to `port`: test/fixtures/receiver-raw.js
 * answers it with one line of JSON about the handoff, then echoes every byte.
 * The connection stays open (`client`) until the caller ends it.
 */
export async function openRaw (port: number, pathname: string): Promise<Offered> {
  const client = rawClient(port)
  await client.connected
  client.socket.write(`GET ${pathname} HTTP/1.1\r\nHost: x\r\nUpgrade: test-protocol\r\nConnection: Upgrade\r\n\r\n`)
  const data = await client.waitFor((d) => d.includes('\n'))
  if (data.subarray(0, 5).toString() === 'HTTP/') {
    const response = parseResponse(await client.ended)
    return { status: response?.status ?? 0, info: response, client }
  }
  return { status: 200, info: JSON.parse(data.subarray(0, data.indexOf('\n')).toString()), client }
}

/** openRaw, then the client ends the connection and waits for it to close. */
export async function offerRaw (port: number, pathname: string): Promise<Omit<Offered, 'client'>> {
  const { client, ...answer } = await openRaw(port, pathname)
  client.socket.end()
  await client.closed
  return answer
}

/** Resolves once every link of `target` takes handoffs. */
export async function linksReady (sender: Sender, target: string): Promise<void> {
  await Promise.all(sender.target(target).links.map((link) => new Promise<void>((resolve) => {
    if (link.usable) resolve()
    else link.once('ready', () => resolve())
  })))
}

/** Resolves once `link` reports (STATUS or ACCEPT) `live` connections, within a generous limit that says what it saw. */
export async function linkLoad (link: Link, live: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      link.removeListener('load', check)
      reject(new Error(`${link.label}: no load report of live ${live} within 20000 ms (last: ${JSON.stringify(link.load)})`))
    }, 20000)
    function check (): void {
      if (link.load.live !== live) return
      clearTimeout(timer)
      link.removeListener('load', check)
      resolve()
    }
    link.on('load', check)
    check()
  })
}

/**
 * The end of a test against real receivers: every handed-off connection
 * closed in them, the sender closed (each receiver sees its channel end),
 * then each receiver exits cleanly.
 */
export async function closeAll (t: Test, app: UpgradeApp, receivers: Child[]): Promise<void> {
  await Promise.all(receivers.map(async (r) => await r.request('idle')))
  await app.sender.close()
  await Promise.all(receivers.map(async (r) => await r.event('peerClose')))
  for (const r of receivers) await stopChild(t, r)
}

/**
 * Resolves, with the time just after it, once `link` has been given its next
 * HANDOFF to write: the frame's sentAt is at most that time. (A wrapper
 * around the link's own send, removed after one call: the HANDOFF still goes
 * through the real channel.)
 */
export function nextSend (link: Link): Promise<number> {
  return new Promise((resolve) => {
    const send = link.send.bind(link)
    link.send = (request, fd, options) => {
      link.send = send
      const verdict = send(request, fd, options)
      resolve(Date.now())
      return verdict
    }
  })
}

/**
 * Waits until the wall clock has passed `time` (a HANDOFF's deadline): the
 * event some tests are about is "the deadline is behind us", and the
 * receiver checks it against this same clock.
 */
export async function clockPast (time: number): Promise<void> {
  while (Date.now() <= time) await new Promise((resolve) => setTimeout(resolve, time - Date.now() + 1))
}
