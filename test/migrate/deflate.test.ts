// Live migration of compressed WebSockets (permessage-deflate) through a
// sibling deploy, in both modes: the server imposing
// client_no_context_takeover (the default), and clients keeping their
// context with the window carried to the new inflater. Same checks as
// move.test.ts (deployUnderTraffic); a file of its own for tap's time limit.
import t from 'tap'
import { CLIENTS } from '../helpers/sibling-deploy.js'
import { WsEcho, deployUnderTraffic } from './helpers.js'

t.test(`${CLIENTS} compressed WebSockets move (server imposes client_no_context_takeover)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /client_no_context_takeover/.test((c as WsEcho).extensions)),
      'the server imposed client_no_context_takeover on every client'))
})

t.test(`${CLIENTS} compressed WebSockets with full context takeover move (the client's window carried)`, async (t) => {
  await deployUnderTraffic(t, { deflate: true, compression: 'carry-window' }, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, true), CLIENTS, 1000,
    (clients) => t.ok(clients.every((c) => /permessage-deflate/.test((c as WsEcho).extensions) &&
      !/client_no_context_takeover/.test((c as WsEcho).extensions)), 'every client kept its compression context'))
})
