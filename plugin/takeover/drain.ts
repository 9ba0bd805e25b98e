// Retiring an HTTP server after a takeover without failing a request.
//
// The successor accepts every new connection; what this process still holds
// is connections it accepted before. Each ends only where no request can
// race its end: its next response (or the one in progress) carries
// `Connection: close`, and Node closes the connection after it, so a client
// learns before it could send another request there. An idle keep-alive
// connection is not closed by us at all (closing it could cross a request
// the client is sending: a reset, a failed request); the client closes it
// when its idle timeout passes (Node advertises ours in `Keep-Alive:
// timeout=`, and clients such as undici close before it), or it sends a
// request, which is answered with `Connection: close`. `drainTimeout` bounds
// the wait: then whatever is left is closed and counted in the log.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { stopAccepting } from '../internals.js'

export interface Drainer {
  /** Stops accepting, closes every connection where no request can race, resolves when none is left (or `drainTimeout` passed). */
  retire (drainTimeout: number): Promise<{ forced: number }>
}

export function drainer (server: HttpServer): Drainer {
  const inFlight = new Set<ServerResponse>()
  // Every connection this server accepted and still holds, upgraded ones
  // included (the HTTP server's own list forgets those): what drainTimeout
  // ends. A connection handed off to a sibling has left (its 'close').
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  let retiring = false
  const closeAfter = (res: ServerResponse): void => {
    if (!res.headersSent) res.setHeader('connection', 'close')
  }
  // First of the server's 'request' listeners, so the header is set before
  // any handler could send the response.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (retiring) { closeAfter(res); return }
    inFlight.add(res)
    res.once('close', () => inFlight.delete(res))
  })
  return {
    retire (drainTimeout) {
      retiring = true
      for (const res of inFlight) closeAfter(res)
      inFlight.clear()
      return new Promise((resolve) => {
        let forced = 0
        const timer = setTimeout(() => {
          // A client that neither closes nor asks: it has had drainTimeout.
          forced = sockets.size
          for (const socket of sockets) socket.destroy()
        }, drainTimeout)
        timer.unref()
        stopAccepting(server, () => { clearTimeout(timer); resolve({ forced }) })
      })
    }
  }
}
