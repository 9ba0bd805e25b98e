// Live migration of compressed WebSockets (permessage-deflate) through a
// sibling deploy, the default mode: the server imposes
// client_no_context_takeover. Same checks as move.test.ts
// (deployUnderTraffic); a file of its own for tap's per-file time limit.
import t from 'tap'
import { CLIENTS } from '../helpers/sibling-deploy.js'
import { WsEcho, deployUnderTraffic } from './helpers.js'

t.test(`${CLIENTS} compressed WebSockets move (server imposes client_no_context_takeover)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /client_no_context_takeover/.test((c as WsEcho).extensions)),
      'the server imposed client_no_context_takeover on every client'))
})
