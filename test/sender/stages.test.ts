// The stage channel (plugin/trace.ts, issue 17): a subscriber sees every
// stage of one handoff, on both sides, in the order they happen, keyed by the
// client's port; without a subscriber nothing is published. Sender and
// receiver run in this process here (one subscriber sees both), over a real
// Unix socket with the client's descriptor really passed.
import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import http from 'node:http'
import type net from 'node:net'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { createReceiver } from '../../plugin/receiver/index.js'
import { STAGE_CHANNEL, stageChannel, type StageEvent } from '../../plugin/trace.js'
import { linksReady, rawClient, tmpDir, upgradeApp } from './helpers.js'

t.test('a handoff passes every stage, in order, on both sides, keyed by the client\'s port', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'r.sock')
  const sibling = http.createServer((req, res) => res.end())
  sibling.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello')
  })
  const receiver = await createReceiver({ path: sockPath, server: sibling })
  t.teardown(async () => { await receiver.close() })
  const app = await upgradeApp(t, { targets: { s: sockPath } }, 's')
  await linksReady(app.sender, 's')

  const seen: StageEvent[] = []
  const record = (message: unknown): void => { seen.push({ ...(message as StageEvent) }) }
  t.equal(stageChannel.hasSubscribers, false, 'nobody listens before the test subscribes')
  diagnostics.subscribe(STAGE_CHANNEL, record)
  t.teardown(() => { diagnostics.unsubscribe(STAGE_CHANNEL, record) })

  const client = rawClient(app.port)
  await client.connected
  const port = client.socket.localPort
  client.socket.write('GET /s HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
  const answer = await client.ended
  t.match(answer.toString(), /^HTTP\/1\.1 101 [\s\S]*hello$/, 'the sibling answered')
  const [result] = await app.settled(1)
  t.equal(result?.outcome, 'accepted')

  const mine = seen.filter((e) => e.port === port).map((e) => e.stage)
  t.same(mine, ['start', 'detached', 'encoded', 'sent', 'decoded', 'rebuilt', 'checked', 'answered', 'verdict', 'released'],
    'the stages of this connection, web app and sibling, in order')
  t.ok(seen.filter((e) => e.stage === 'woken').length >= 2, 'each side\'s channel woke for the frame it read (no port: before the frame is cut)')
  t.ok(seen.every((e) => e.stage === 'woken' || e.port === port), 'every other stage carries this client\'s port')

  diagnostics.unsubscribe(STAGE_CHANNEL, record)
  t.equal(stageChannel.hasSubscribers, false, 'unsubscribed: the publish points are skipped again')
  const before = seen.length
  const second = rawClient(app.port)
  second.socket.write('GET /s HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n')
  await second.ended
  await app.settled(2)
  t.equal(seen.length, before, 'no stage recorded without a subscriber')
  await client.closed
  await second.closed
})
