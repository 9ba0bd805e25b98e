// What a route handler in the sibling may want to know about a connection it
// serves: that it was handed off, by whom, and with which context (e.g. the
// user the web app's auth hook found). The info travels with the socket, so
// every request on a handed-off keep-alive connection sees it, and so does
// the request of an upgrade.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { HandoffKind } from '../protocol/index.js'

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
  /** Whether the sender saw a persistent (keep-alive) connection. */
  keepAlive: boolean
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

// Weak: the info lives exactly as long as the socket does.
const bySocket = new WeakMap<Socket, HandoffInfo>()

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
  const socket = 'socket' in req ? req.socket : req
  return socket === null || socket === undefined ? undefined : bySocket.get(socket as Socket)
}
