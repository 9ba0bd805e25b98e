// Shared by the sender, Fastify, adapter and type tests: child processes
// driven over IPC (siblings, web apps), socket directories, clients (a `ws`
// client, a raw TCP client, a keep-alive HTTP client), and WebSocket frames.
// Nothing here sleeps: every wait is for an event.
import type http from 'node:http'
import type { Test } from 'tap'
import { Child, forkFixture as forkChild, stopChild as stopChildWith, type Message } from '../helpers/child.js'
import { rawClient, type RawClient } from '../helpers/clients.js'
import { tmpDir as freshDir } from '../helpers/tmp.js'

export { rawClient, clientFrame, serverFrames, upgradeRequest, WsClient, type RawClient } from '../helpers/clients.js'
export { Child, FIXTURES, type Message } from '../helpers/child.js'

export function forkFixture (t: Test, fixture: string, config: object, label = fixture): Child {
  return forkChild(fixture, config, label, t)
}

/** R's receiver in an unmodified Fastify + @fastify/websocket app (test/fixtures/receiver-fastify.js), once it listens. */
export async function startSibling (t: Test, config: { path: string, maxConnections?: number }, kind: 'fastify' | 'ws' | 'raw' | 'http' = 'fastify'): Promise<Child> {
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
