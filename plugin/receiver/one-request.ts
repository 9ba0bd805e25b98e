// A connection whose web app did not let the sibling serve later requests
// (HANDOFF `keepAlive: false`) carries exactly one request here: the one the
// web app handed off, after its own hooks accepted it. Any later request on
// the connection must go back through the web app, so it must never reach a
// handler here (a browser's EventSource reconnects on the same connection
// when a stream ends; a client may pipeline).
//
// Two layers, so that neither the app's response nor a pipelining client can
// reopen the connection to later requests:
//  - the replayed head says `Connection: close`. Node's parser (llhttp) then
//    refuses any further message on the connection (HPE_CLOSED_CONNECTION:
//    no handler runs), and the server answers `Connection: close` and ends
//    the connection after the response, whatever headers the app sets;
//  - the server's parser gets exactly the bytes of that request and nothing
//    after them: later bytes (a pipelined request) are read and dropped. A
//    parse error would cut the response in flight (Fastify even writes a 400
//    into it), and bytes left unread at close make the kernel send a reset
//    that can destroy the response's tail at the client. The client gets the
//    whole response, then the end of the connection, and sends its next
//    request on a new connection, to the web app.
import type net from 'node:net'
import { takeServerData } from '../internals.js'

const CRLF = '\r\n'

/**
 * `head` with its Connection header saying `close`: the `keep-alive` and
 * `close` tokens of every Connection line are dropped and one Connection line
 * with the remaining tokens (e.g. `Upgrade`) and `close` ends the head. Other
 * lines are kept byte for byte.
 */
export function closeConnection (head: Buffer): Buffer {
  const text = head.toString('latin1')
  const end = text.indexOf(CRLF + CRLF)
  if (end < 0) return head
  const lines = text.slice(0, end).split(CRLF)
  const kept: string[] = [lines[0]]
  const tokens: string[] = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'connection') {
      for (const token of line.slice(colon + 1).split(',')) {
        const t = token.trim()
        if (t !== '' && !/^(keep-alive|close)$/i.test(t)) tokens.push(t)
      }
    } else {
      kept.push(line)
    }
  }
  kept.push(`Connection: ${[...tokens, 'close'].join(', ')}`)
  return Buffer.from(kept.join(CRLF) + CRLF + CRLF, 'latin1')
}

/**
 * How many body bytes follow `head`: 0 without a body, the Content-Length, or
 * null when only a parser can tell (Transfer-Encoding, or a Content-Length
 * that is not one plain number).
 */
export function bodyLength (head: Buffer): number | null {
  let length: number | null = 0
  let seen = false
  for (const line of head.toString('latin1').split(CRLF).slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'transfer-encoding') return null
    if (name !== 'content-length') continue
    if (!/^\d+$/.test(value) || (seen && Number(value) !== length)) return null
    length = Number(value)
    seen = true
  }
  return length
}

/**
 * Right after node:http took the socket (its 'connection' listener ran):
 * its parser will see the first `length` bytes of the stream (the handed-off
 * request: its head, put back in front, and its body) and nothing after them. Returns false, changing nothing, when
 * node:http's internals are not the expected ones; `Connection: close` in the
 * head still keeps later requests from any handler then.
 *
 * How: node:http's parser reads the socket's handle in C++ (consume); it is
 * taken off the handle, as node:http itself does when an app adds a 'data'
 * listener (unconsume in lib/_http_server.js), and the server's 'data'
 * listener is replaced by one that passes it those bytes only.
 */
export function parseOnly (socket: net.Socket, length: number): boolean {
  const onData = takeServerData(socket)
  if (onData === null) return false
  let remaining = length
  const firstRequestOnly = (chunk: Buffer): void => {
    if (remaining === 0) return // after the handed-off request: dropped
    if (chunk.length <= remaining) {
      remaining -= chunk.length
      onData(chunk)
      return
    }
    const part = chunk.subarray(0, remaining)
    remaining = 0
    onData(part)
  }
  socket.on('data', firstRequestOnly)
  return true
}
