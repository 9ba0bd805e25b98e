// When a connection stays with us (REJECT, timeout, no receiver, a refusal: docs/errors.md, "Words"),
// the client still gets an answer: a 503 with Retry-After, written on the raw
// socket for an upgrade (no ServerResponse exists for it) or through the
// response for an ordinary request (which keeps the connection usable).
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type net from 'node:net'

export interface UnavailableOptions {
  /** Seconds for Retry-After. */
  retryAfter: number
  /** Body text; default "Service Unavailable\n". */
  message?: string
  /** ms to wait for the client to close after our FIN before closing anyway; default 2000. */
  linger?: number
}

const noop = (): void => {}

/** The bytes of the raw 503 (Connection: close). */
export function unavailableResponse (options: UnavailableOptions): Buffer {
  return rawResponse({
    status: 503,
    headers: { 'Retry-After': String(Math.max(0, Math.round(options.retryAfter))) },
    body: options.message ?? 'Service Unavailable\n'
  })
}

export interface RawResponse {
  status: number
  headers?: Record<string, string>
  /** Default: the status text and a newline. */
  body?: string | Buffer
  /** ms to wait for the client to close after our FIN before closing anyway; default 2000. */
  linger?: number
}

/** The bytes of a whole HTTP/1.1 response with Connection: close. */
export function rawResponse (response: RawResponse): Buffer {
  const reason = STATUS_CODES[response.status] ?? 'Unknown'
  const body = response.body === undefined
    ? Buffer.from(`${reason}\n`)
    : Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body, 'utf8')
  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', ...response.headers }
  let head = `HTTP/1.1 ${response.status} ${reason}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (lower === 'content-length' || lower === 'connection') continue
    head += `${name}: ${value}\r\n`
  }
  head += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}

/**
 * Answers an upgrade request on its raw socket with a 503 and closes it
 * gracefully (see writeResponse). Resolves once the socket is closed.
 */
export function writeUnavailable (socket: net.Socket, options: UnavailableOptions): Promise<void> {
  return writeResponse(socket, {
    status: 503,
    headers: { 'Retry-After': String(Math.max(0, Math.round(options.retryAfter))) },
    body: options.message ?? 'Service Unavailable\n',
    ...(options.linger === undefined ? {} : { linger: options.linger })
  })
}

/**
 * Writes a whole response on a raw socket (no ServerResponse exists for an
 * upgrade request) and closes it gracefully: our FIN after the answer, then
 * whatever the client still sends is read and dropped until it closes too
 * (closing with unread bytes would send an RST, which can make the client
 * lose the answer). Resolves once the socket is closed.
 */
export function writeResponse (socket: net.Socket, response: RawResponse): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve()
      return
    }
    socket.once('close', () => resolve())
    socket.on('error', noop)
    const linger = response.linger ?? 2000
    let timer: NodeJS.Timeout | null = null
    const finish = (): void => {
      if (timer !== null) clearTimeout(timer)
      socket.destroy()
    }
    socket.once('end', finish)
    socket.on('data', noop)
    socket.resume()
    if (!socket.writable) {
      finish()
      return
    }
    socket.end(rawResponse(response), () => {
      // Our FIN is out; give the client a moment to read and close.
      timer = setTimeout(finish, linger)
    })
  })
}

/** Answers an ordinary request with a 503 through its response (the connection stays usable). */
export function respondUnavailable (res: ServerResponse, options: UnavailableOptions): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    if (!res.writableEnded) res.destroy()
    return
  }
  const body = Buffer.from(options.message ?? 'Service Unavailable\n', 'utf8')
  res.writeHead(503, {
    'Retry-After': String(Math.max(0, Math.round(options.retryAfter))),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length)
  })
  res.end(body)
}
