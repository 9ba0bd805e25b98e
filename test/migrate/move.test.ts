// Live migration through a sibling deploy (issue 14): every WebSocket moves
// from the old sibling to the new one while its client keeps sending
// numbered messages; every number is echoed exactly once, in order, the
// later ones by the new process; no client sees a close; the old process's
// "close" logic never runs for a moved connection; no process leaks a
// descriptor.
import t from 'tap'
import { CLIENTS } from '../helpers/sibling-deploy.js'
import { SplitEcho, WsEcho, deployUnderTraffic } from './helpers.js'

t.test(`${CLIENTS} WebSockets move through a sibling deploy under traffic`, async (t) => {
  await deployUnderTraffic(t, {}, (port) => new WsEcho(`ws://127.0.0.1:${port}/ws`, false), CLIENTS, 250)
})

t.test('clients writing each frame in two packets move at a frame boundary', async (t) => {
  await deployUnderTraffic(t, {}, (port) => new SplitEcho(port, 3), 100, 20)
})
