// Live migration of compressed WebSockets whose clients keep their
// compression context (compression: 'carry-window'): each one's window is
// carried to the new inflater as its dictionary. Same checks as
// move.test.ts (deployUnderTraffic); a file of its own for tap's per-file
// time limit.
import t from 'tap'
import { CLIENTS } from '../helpers/sibling-deploy.js'
import { WsEcho, deployUnderTraffic } from './helpers.js'

t.test(`${CLIENTS} compressed WebSockets with full context takeover move (the client's window carried)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true, compression: 'carry-window' }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /permessage-deflate/.test((c as WsEcho).extensions) &&
      !/client_no_context_takeover/.test((c as WsEcho).extensions)), 'every client kept its compression context'))
})
