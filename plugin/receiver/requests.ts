// Which request on a handed-off connection a request is: 1 for the one the
// web app handed off (its hooks ran on it), 2, 3, … for later ones, which the
// web app never saw. The sibling needs that to authenticate later requests
// itself when the web app let it serve them (HANDOFF `keepAlive: true`).
//
// Counted where node:http creates each request: the parser's onIncoming
// (lib/_http_server.js parserOnIncoming), which every message goes through,
// plain requests and upgrades alike, before any 'request' / 'upgrade' /
// 'checkContinue' listener. node:http pools its parsers and resets
// onIncoming when the connection ends (cleanParser), so the count never
// follows a parser to another connection.
import type { IncomingMessage } from 'node:http'
import type net from 'node:net'
import { wrapIncoming } from '../internals.js'

const numbers = new WeakMap<IncomingMessage, number>()

/**
 * Numbers the requests node:http parses on `socket` (call right after its
 * 'connection' listener ran, before any byte is parsed). With `later` false,
 * a second request is never dispatched: the connection is destroyed instead
 * (a last fence behind `Connection: close`). Returns false, changing nothing,
 * when node:http's internals are not the expected ones.
 */
export function numberRequests (socket: net.Socket, later: boolean): boolean {
  let count = 0
  return wrapIncoming(socket, (onIncoming) => function numbered (this: unknown, req: IncomingMessage, keepAlive: boolean): unknown {
    count++
    numbers.set(req, count)
    if (count > 1 && !later) {
      socket.destroy()
      return 1 // skip the body: nothing of this request is served
    }
    return onIncoming.call(this, req, keepAlive)
  })
}

/** The request's number on its handed-off connection, if numbered. */
export function requestNumber (req: IncomingMessage): number | undefined {
  return numbers.get(req)
}
