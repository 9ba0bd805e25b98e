// A new sibling checks the `resume` member of every WebSocket HANDOFF
// (PROTOCOL.md §12) before it ACCEPTs: one that does not describe a
// WebSocket this process can go on with exactly (another version of the
// payload, an extension it does not implement, parameters out of range, a
// compression window that is not one, a context takeover without its
// window, a route that is not one) is REJECTed as bad-metadata, and the
// sender still owns a working connection. Here this test is the old sibling
// (a sender of another build, or a buggy one): it hands a real TCP
// connection to a real sibling process with each faulty payload in turn.
import net from 'node:net'
import t from 'tap'
import { stopChild } from '../helpers/child.js'
import { upgradeRequest } from '../helpers/clients.js'
import { checkFdLeaks, fdsBackTo } from '../helpers/fds.js'
import { socketFd } from '../../plugin/internals.js'
import type { HandoffMeta } from '../../plugin/protocol/index.js'
import { Sender } from '../../plugin/sender/index.js'
import { newSibling, ownServer } from './helpers.js'

const PMD = 'permessage-deflate'

/** Each faulty `resume`, and what the new sibling's REJECT must say about it. */
const FAULTY: Array<[string, Record<string, unknown>, RegExp]> = [
  ['another version of the payload', { v: 2, protocol: '', extensions: {} }, /unknown version/],
  ['a subprotocol that is not a string', { v: 1, protocol: 5, extensions: {} }, /"protocol" must be a string/],
  ['a subprotocol over 255 characters', { v: 1, protocol: 'p'.repeat(256), extensions: {} }, /"protocol" must be a string/],
  ['extensions as a list', { v: 1, protocol: '', extensions: [] }, /"extensions" must be an object/],
  ['extensions null', { v: 1, protocol: '', extensions: null }, /"extensions" must be an object/],
  ['an extension this process does not implement', { v: 1, protocol: '', extensions: { 'x-webkit-deflate-frame': {} } },
    /extension "x-webkit-deflate-frame" is not supported/],
  ['permessage-deflate parameters as a list', { v: 1, protocol: '', extensions: { [PMD]: [] } }, /parameters must be an object/],
  ['an unknown permessage-deflate parameter', { v: 1, protocol: '', extensions: { [PMD]: { client_no_context_takeover: true, level: 9 } } },
    /unknown permessage-deflate parameter "level"/],
  ['a window of 7 bits (RFC 7692: 8 to 15)', { v: 1, protocol: '', extensions: { [PMD]: { client_no_context_takeover: true, client_max_window_bits: 7 } } },
    /bad value for permessage-deflate parameter "client_max_window_bits"/],
  ['a window of 12.5 bits', { v: 1, protocol: '', extensions: { [PMD]: { client_no_context_takeover: true, server_max_window_bits: 12.5 } } },
    /bad value for permessage-deflate parameter "server_max_window_bits"/],
  ['a no-context flag that is not true', { v: 1, protocol: '', extensions: { [PMD]: { client_no_context_takeover: 1 } } },
    /bad value for permessage-deflate parameter "client_no_context_takeover"/],
  ['a window that is not a string', { v: 1, protocol: '', extensions: { [PMD]: {} }, window: 5 }, /"window" must be base64/],
  ['a window that is not base64', { v: 1, protocol: '', extensions: { [PMD]: {} }, window: 'not base64!' }, /"window" must be base64/],
  ['a window over 32 KiB', { v: 1, protocol: '', extensions: { [PMD]: {} }, window: 'A'.repeat(43696) }, /"window" must be base64 of at most 32 KiB/],
  ['a window without compression', { v: 1, protocol: '', extensions: {}, window: 'AAAA' }, /"window" without permessage-deflate/],
  ['client context takeover and no window', { v: 1, protocol: '', extensions: { [PMD]: { client_max_window_bits: 10 } } },
    /client context takeover and no compression window/],
  ['an empty route', { v: 1, protocol: '', extensions: {}, route: '' }, /"route" must be a non-empty string/],
  ['a route that is not a string', { v: 1, protocol: '', extensions: {}, route: ['/ws'] }, /"route" must be a non-empty string/],
  ['a route over 2048 characters', { v: 1, protocol: '', extensions: {}, route: `/${'r'.repeat(2048)}` }, /"route" must be a non-empty string/]
]

t.test('a resume payload the new sibling cannot honour exactly: REJECTed as bad-metadata, the connection still the sender\'s', async (t) => {
  checkFdLeaks(t)
  const { next, address: sockPath } = await newSibling(t, 'migrate-sibling.js')

  // The connection handed off: a real loopback TCP connection, our end of it.
  const { port, accepted } = await ownServer(t)
  const ours$ = accepted()
  const client = net.connect(port, '127.0.0.1')
  t.teardown(() => client.destroy())
  const ours = await ours$
  t.teardown(() => ours.destroy())
  const fd = socketFd(ours) as number

  const sender = new Sender({ targets: { next: { path: sockPath, receiverTarget: false, timeout: 5000 } } })
  t.teardown(() => sender.close())
  await sender.ready('next')
  // The sender's channel is part of the new sibling's baseline.
  const baseline = next.fds()
  const head = Buffer.from(upgradeRequest('/ws', port).text, 'latin1')
  const { remoteAddress, remotePort, localAddress, localPort } = ours
  const addresses = { remoteAddress, remotePort, localAddress, localPort }
  for (const [what, resume, message] of FAULTY) {
    const meta: HandoffMeta = {
      ...addresses,
      kind: 'websocket',
      keepAlive: false,
      sentAt: 0,
      family: 'IPv4',
      context: undefined,
      resume
    }
    const { verdict } = await sender.target('next').send({ meta, head, buffered: Buffer.alloc(0) }, fd)
    t.match(verdict, { outcome: 'rejected', reason: 'bad-metadata', retryable: false, message }, `${what}: refused before the ACCEPT`)
  }

  // Still the sender's, both ways: the client's bytes reach us, ours reach it.
  const got = new Promise<string>((resolve) => ours.once('data', (d) => resolve(d.toString())))
  client.write('still here')
  t.equal(await got, 'still here', 'the client\'s bytes still reach the sender')
  const back = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())))
  ours.write('and answered')
  t.equal(await back, 'and answered', 'and the sender still answers it')
  t.equal(await fdsBackTo(next.pid, baseline), baseline, 'the new sibling closed its copy of each refused descriptor')
  t.same((await next.request('stats')).resumed, 0, 'and resumed none')
  await sender.close()
  await stopChild(t, next, 'exit')
})
