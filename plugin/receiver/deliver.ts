// Replaying a handed-off connection into a node:http server (or the one
// inside a Fastify instance) as if that server had accepted it itself.
//
// net.Server's accept path (onconnection in lib/net.js) does four things
// before emitting 'connection': it applies the server's socket options
// (noDelay, keepAlive), counts the socket in `_connections` and points
// `socket._server` at the server (so `server.close()` waits for it,
// `getConnections()` counts it and the socket decrements the count when it
// is destroyed), and rejects handoffs beyond `server.maxConnections`. The
// HTTP layer then attaches its parser in its 'connection' listener. We do the
// same, so connection counts, timeouts, close() and closeIdleConnections()
// treat a handed-off connection like a local one.
import http from 'node:http'
import type net from 'node:net'
import tls from 'node:tls'
import { ERR_HANDOFF_RECEIVER_OPTION } from '../errors.js'
import { acceptOptionsOf, connectionCount, countConnection, trackConnections } from '../internals.js'
import { rejection } from './rejection.js'

/** What a Fastify instance looks like to the receiver (no type dependency on fastify). */
export interface FastifyLike {
  server: http.Server
  ready (): PromiseLike<unknown>
}

export type DeliveryServer = http.Server | FastifyLike

function isFastify (value: unknown): value is FastifyLike {
  // Fastify({ https }) has a tls.Server, which is no http.Server: recognised
  // here so that resolveServer refuses it for TLS, not as "not a server".
  return typeof value === 'object' && value !== null && typeof (value as FastifyLike).ready === 'function' &&
    ((value as FastifyLike).server instanceof http.Server || (value as FastifyLike).server instanceof tls.Server)
}

/**
 * The node:http server to replay into. TLS servers are refused: the client
 * negotiated TLS with the web app (or a proxy in front of it), and TLS state
 * cannot move between processes; hand off plaintext connections only.
 */
export function resolveServer (server: unknown): { http: http.Server, fastify?: FastifyLike } {
  if (server instanceof tls.Server) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('server',
      'a TLS server cannot serve a handed-off connection (TLS state does not move between processes); use a plain http.Server')
  }
  if (server instanceof http.Server) return { http: server }
  if (isFastify(server)) {
    if (server.server instanceof tls.Server) return resolveServer(server.server)
    return { http: server.server, fastify: server }
  }
  throw new ERR_HANDOFF_RECEIVER_OPTION('server', 'expected a node:http Server or a Fastify instance')
}

/** Options the server's own accept path would have given the socket. */
export function socketOptionsOf (server: http.Server): { allowHalfOpen: boolean, highWaterMark?: number } {
  const { allowHalfOpen, highWaterMark } = acceptOptionsOf(server)
  return { allowHalfOpen, ...(highWaterMark === undefined ? {} : { highWaterMark }) }
}

/** net.Server drops connections beyond `maxConnections`; we reject the handoff instead, so the sender can fall back. */
export function checkServerCapacity (server: http.Server): void {
  const max = server.maxConnections
  if (typeof max === 'number' && max > 0 && connectionCount(server) >= max) {
    throw rejection('capacity', `the server is at its maxConnections (${max})`)
  }
}

/**
 * Hands `socket` to `server` exactly as
 * net.Server's accept path would. Synchronous, and called only once the
 * ACCEPT is in the kernel: the server parses nothing before replay.ts feeds
 * it the prefix, and reads nothing from the kernel before the next tick.
 */
export function deliverToServer (server: http.Server, socket: net.Socket): void {
  const accept = acceptOptionsOf(server)
  if (accept.noDelay) socket.setNoDelay(true)
  if (accept.keepAlive) socket.setKeepAlive(true, accept.keepAliveInitialDelay)
  // A sibling's server need not listen anywhere: its headersTimeout,
  // requestTimeout and closeIdleConnections() still need its connections list.
  trackConnections(server)
  countConnection(server, socket)
  server.emit('connection', socket)
}
