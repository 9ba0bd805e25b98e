// What the socket yields to its consumer after an ACCEPT, and the fences
// that keep a connection to the requests the web app let this process serve
// (HANDOFF `keepAlive`, PROTOCOL.md §6.2 and §7 receiver 5).
import type http from 'node:http'
import type net from 'node:net'
import { ERR_HANDOFF_UNCOUNTED } from '../errors.js'
import type { HandoffRequest } from '../protocol/index.js'
import { deliverToServer } from './deliver.js'
import { bodyLength, closeConnection, parseOnly } from './one-request.js'
import { putBack } from './rebuild.js'
import { numberRequests } from './requests.js'

/**
 * Whether the HTTP server will parse the head as an ordinary request, which
 * a connection may follow: kind `request`, and kind `upgrade` when the
 * server has no 'upgrade' listener (node:http then serves an upgrade request
 * like any other, and keeps the connection open for more).
 */
function servedAsRequest (request: HandoffRequest, server: http.Server | null): boolean {
  const { kind } = request.meta
  if (kind === 'request') return true
  return kind === 'upgrade' && server !== null && server.listenerCount('upgrade') === 0
}

/**
 * The bytes in front of the socket's stream: the head, then `buffered`. When
 * the connection is closed to later requests the head says so, and of
 * `buffered` only the request's body is kept (what follows it can only be a
 * later request; an upgrade served as a plain request has no body and no
 * protocol after it). `length`: how many bytes of the stream the request
 * takes, head and body, or null when only the parser can tell (a chunked
 * body).
 */
function prefixOf (request: HandoffRequest, closed: boolean): { prefix: Buffer, length: number | null } {
  const { head, buffered } = request
  if (!closed) return { prefix: buffered.length === 0 ? head : Buffer.concat([head, buffered]), length: null }
  const closing = closeConnection(head)
  const body = bodyLength(head)
  if (body === null) return { prefix: Buffer.concat([closing, buffered]), length: null }
  return { prefix: Buffer.concat([closing, buffered.subarray(0, body)]), length: closing.length + body }
}

/**
 * Hands a 'handoff' listener its socket: the listener owns the connection,
 * and reads `info.keepAlive` to know whether later requests are its to
 * serve. A plain request it must not keep comes with `Connection: close` and
 * without the bytes read after its body.
 */
export function replayToListener (socket: net.Socket, request: HandoffRequest, emit: () => void): void {
  putBack(socket, prefixOf(request, request.meta.kind === 'request' && !request.meta.keepAlive).prefix)
  emit()
}

/**
 * Replays the connection into `server` as if it had accepted it. Without the
 * web app's leave (`keepAlive` false) the server parses the handed-off
 * request only: any later request on the connection never reaches one of its
 * handlers (the client sends it again on a new connection, to the web app).
 * With it, requests are numbered (handoffInfo(req).requestNumber) so the app
 * can tell later ones, which the web app never saw; where they cannot be
 * numbered, ERR_HANDOFF_UNCOUNTED (the caller closes the connection rather
 * than serve later requests blind).
 */
export function replayToServer (server: http.Server, socket: net.Socket, request: HandoffRequest): void {
  const later = request.meta.keepAlive
  const closed = !later && servedAsRequest(request, server)
  const { prefix, length } = prefixOf(request, closed)
  deliverToServer(server, socket)
  // The server's 'connection' listener has attached its parser; nothing has
  // been read from the kernel yet (manualStart: reading starts on the next
  // tick, when the stream flows).
  if (closed && length !== null) parseOnly(socket, length)
  // Thrown: the receiver closes the connection and reports it.
  if (!numberRequests(socket, later) && later) throw new ERR_HANDOFF_UNCOUNTED()
  feed(socket, prefix)
}

/**
 * The bytes the sender had read go to the server's parser now, as the
 * 'data' they were on the sender's side, rather than through the stream's
 * buffer on the next tick (issue 17: one event-loop turn less between the
 * frame and the handler, and at concurrency each connection's handler runs
 * right after its ACCEPT instead of after the whole batch of frames read
 * with it). What the kernel holds comes after them: nothing is read from
 * the descriptor before the stream flows, a tick later. The app's handler
 * runs inside this call: what it throws is thrown again on the next tick,
 * an uncaught exception as it was when the stream delivered the bytes (not
 * a delivery failure, and not in the middle of the channel's frames).
 */
function feed (socket: net.Socket, prefix: Buffer): void {
  if (prefix.length === 0) return
  try {
    socket.emit('data', prefix)
  } catch (err) {
    process.nextTick(() => { throw err })
  }
}
