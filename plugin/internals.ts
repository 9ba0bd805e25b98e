// Every access to a private internal of Node, Fastify, ws or
// @fastify/websocket lives in this file (the `internals` branch builds the
// rest of it; each area has a section of its own).
import net from 'node:net'

// ── takeover ──
// A listening net.Server's descriptor, to pass to a successor: libuv keeps
// it in the handle (`_handle.fd`, a TCP or Pipe wrap), and Node has no public
// way to read it. -1 when the server does not listen (or on a platform
// without descriptors).
export function listeningFd (server: net.Server): number {
  const handle = (server as unknown as { _handle?: { fd?: unknown } | null })._handle
  const fd = handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : -1
}

/**
 * Stops accepting without touching the connections: net.Server's own
 * close(). http.Server.close() (Node ≥ 19) first closes every idle
 * keep-alive connection, which races a client that is sending its next
 * request on it (a reset, a failed request); after a takeover those
 * connections are left to finish (plugin/takeover/drain.ts). `done` runs
 * once the last connection has closed.
 */
export function stopAccepting (server: net.Server, done: () => void): void {
  net.Server.prototype.close.call(server, () => done())
}
