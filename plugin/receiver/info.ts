// What a route handler in the sibling may want to know about a connection it
// serves: that it was handed off, by whom, and with which context (e.g. the
// user the web app's auth hook found). The info travels with the socket; a
// request gets its own copy that says which request on the connection it is
// (a later request on a connection the web app let the sibling keep was
// never seen by the web app's hooks).
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { HandoffKind } from '../protocol/index.js'
import { requestNumber } from './requests.js'

export interface HandoffSender {
  /** From the kernel (SO_PEERCRED), not from the sender's HELLO; -1 where the kernel does not tell. */
  pid: number
  uid: number
  gid: number
  /** The label the sender gave in its HELLO, if any (informational). */
  name?: string
}

export interface HandoffInfo {
  /** The handoff id on its channel (unique per sender channel, not globally). */
  id: number
  kind: HandoffKind
  /** The target the sender named, if any. */
  target?: string
  /** The JSON context the web app attached (undefined when none). */
  context: unknown
  /** The HTTP request head as the client sent it (empty for a raw handoff without one). */
  head: Buffer
  /**
   * Whether the web app let this process serve the requests that follow the
   * handed-off one on the connection (its opt-in, on a persistent
   * connection). When false the connection carries the handed-off request
   * only: the receiver replays it with `Connection: close` (the client's own
   * header is in `head`) and no later request reaches a handler here.
   */
  keepAlive: boolean
  /**
   * Which request on the connection this is: 1 for the one the web app handed
   * off (its hooks ran on it; also the value in a socket's info), 2, 3, … for
   * later requests, which the web app never saw (possible only with
   * `keepAlive`). 0 when it cannot be told: a request on a `keepAlive`
   * connection that a 'handoff' listener parsed itself.
   */
  requestNumber: number
  sender: HandoffSender
  /** When the sender sent the handoff / when this process received it (ms since the epoch). */
  sentAt: number
  receivedAt: number
  /** The client's address, from the kernel (getpeername on the passed socket). */
  remoteAddress?: string
  remotePort?: number
  /** The address the client connected to (the web app's listening address). */
  localAddress?: string
  localPort?: number
}

// Weak: the info lives exactly as long as the socket (or request) does.
const bySocket = new WeakMap<Socket, HandoffInfo>()
const byRequest = new WeakMap<IncomingMessage, HandoffInfo>()

export function attachInfo (socket: Socket, info: HandoffInfo): void {
  bySocket.set(socket, info)
}

/** Anything that leads to the client's socket: a Fastify request, a node:http request, or the socket. */
export type InfoSource = IncomingMessage | { raw: IncomingMessage } | Socket

/**
 * The handoff info of a request (node:http IncomingMessage, Fastify request)
 * or socket, or undefined when the connection was accepted locally.
 */
export function handoffInfo (source: InfoSource | null | undefined): HandoffInfo | undefined {
  if (source === null || source === undefined) return undefined
  const req = 'raw' in source ? source.raw : source
  if (!('socket' in req)) return bySocket.get(req)
  const socket = req.socket
  const info = socket === null || socket === undefined ? undefined : bySocket.get(socket)
  if (info === undefined) return undefined
  const number = requestNumber(req) ?? (info.keepAlive ? 0 : 1)
  if (number === info.requestNumber) return info
  let own = byRequest.get(req)
  if (own === undefined) {
    own = { ...info, requestNumber: number }
    byRequest.set(req, own)
  }
  return own
}
