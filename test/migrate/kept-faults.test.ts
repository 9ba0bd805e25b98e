// The reasons a WebSocket stays that only a fault produces, each from a real
// one: a connection whose inflate waits behind a libuv thread pool busy with
// other work ('busy'); a new sibling that hangs in the middle of a move (its
// verdicts never come: 'timeout', and it takes none of those connections
// when it wakes up); and a connection that moved once with its client's
// compression context to a sibling that keeps none ('compression': it
// cannot move again, and is served on). Each is reported by its reason and
// served on where it is; nothing is lost, repeated or reordered.
import net from 'node:net'
import zlib from 'node:zlib'
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { clientFrame, upgradeRequest } from '../helpers/clients.js'
import { startDeploy } from '../helpers/sibling-deploy.js'
import { WsEcho, endDeploy, openAll, summary, traffic, until, wake } from './helpers.js'

/** permessage-deflate's tail of a flushed block (RFC 7692 §7.2.1): stripped by the sender, put back to inflate. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff])

/**
 * A client that speaks permessage-deflate by hand, each message on its own
 * (no context either way), so that a test can put an uncompressed command
 * and a compressed message into one write. `texts`: the server's messages.
 */
class DeflateClient {
  readonly texts: string[] = []
  closed = false
  private buffer = Buffer.alloc(0)
  private constructor (readonly socket: net.Socket) {}

  static async open (port: number): Promise<DeflateClient> {
    const socket = net.connect(port, '127.0.0.1')
    const client = new DeflateClient(socket)
    socket.on('error', () => {})
    socket.on('close', () => { client.closed = true; wake() })
    const { text } = upgradeRequest('/ws', port, 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n')
    socket.write(text)
    await new Promise<void>((resolve, reject) => {
      let head = true
      socket.on('data', (data) => {
        client.buffer = Buffer.concat([client.buffer, data])
        if (head) {
          const end = client.buffer.indexOf('\r\n\r\n')
          if (end < 0) return
          const response = client.buffer.subarray(0, end).toString()
          if (!response.startsWith('HTTP/1.1 101') || !/permessage-deflate/.test(response)) reject(new Error(response))
          client.buffer = client.buffer.subarray(end + 4)
          head = false
          resolve()
        }
        client.parse()
      })
    })
    return client
  }

  /** A text frame, compressed (RSV1 set). */
  static compressed (text: string): Buffer {
    const body = zlib.deflateRawSync(Buffer.from(text), { flush: zlib.constants.Z_SYNC_FLUSH })
    const frame = clientFrame(1, body.subarray(0, body.length - TAIL.length))
    frame[0] |= 0x40
    return frame
  }

  /** The server's frames so far: short here (< 126 bytes), unmasked; text ones kept, inflated if compressed. */
  private parse (): void {
    while (this.buffer.length >= 2 && this.buffer.length >= 2 + (this.buffer[1] & 0x7f)) {
      const length = this.buffer[1] & 0x7f
      const payload = this.buffer.subarray(2, 2 + length)
      if ((this.buffer[0] & 0x0f) === 1) {
        const compressed = (this.buffer[0] & 0x40) !== 0
        this.texts.push((compressed ? zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }) : payload).toString())
      }
      this.buffer = this.buffer.subarray(2 + length)
      wake()
    }
  }
}

t.test('an inflate waiting behind a busy thread pool: kept as busy (after its retry), then served on where it is', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, { deflate: true })
  const movers = Array.from({ length: 5 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(movers)
  const busy = await DeflateClient.open(d.port)
  // One write: the command that occupies every thread of the pool, then a
  // compressed message, whose inflate is queued behind them in the same turn.
  busy.socket.write(Buffer.concat([clientFrame(1, 'block-pool'), DeflateClient.compressed('1 waits for its inflate')]))
  await d.old.event('command', (m) => m.what === 'block-pool')
  const stop = traffic(movers, 50)
  await until(() => movers.every((c) => c.received >= 2), () => JSON.stringify(summary(movers)))
  const { report } = await d.old.request('move', { address: d.nextPath, options: { cutTimeout: 300 } })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 5, kept: { busy: 1 }, closed: 0 },
    'the one inflating stayed (busy), the others moved')
  t.same(busy.texts, [], 'its message still waits for the pool')
  await d.old.request('unblockPool')
  await until(() => busy.texts.length === 1, () => 'the echo of the message that waited')
  t.same(busy.texts, [`1@${d.old.pid}`], 'once the pool frees, the old sibling inflates it and answers')
  busy.socket.write(DeflateClient.compressed('2 and after'))
  await until(() => busy.texts.length === 2, () => 'the next echo')
  t.same(busy.texts[1], `2@${d.old.pid}`, 'and serves it on')
  await until(() => movers.every((c) => c.lastPid === d.next.pid), () => 'echoes from the new sibling')
  stop()
  await until(() => movers.every((c) => c.received === c.sent), () => JSON.stringify(summary(movers)))
  t.same(summary(movers).errors, [], 'the moved ones lost, repeated and reordered nothing')
  busy.socket.destroy()
  await until(() => busy.closed, () => 'the busy client closing')
  await endDeploy(t, d, movers)
})

t.test('a new sibling that hangs mid-move: what it does not answer in time stays (timeout); woken, it takes none of it', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, {}, { stopAfter: 1 })
  const clients = Array.from({ length: 2 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, false))
  await openAll(clients)
  const stop = traffic(clients, 50)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))
  // One at a time: the first is resumed, and the new sibling stops in its resume hook.
  const { report } = await d.old.request('move', { address: d.nextPath, options: { concurrency: 1, timeout: 300 } })
  t.same({ moved: report.moved, kept: report.kept, closed: report.closed }, { moved: 1, kept: { timeout: 1 }, closed: 0 },
    'the first moved; the second, whose verdict never came, stayed (timeout)')
  const sentAt = clients.map((c) => c.sent)
  process.kill(d.next.pid, 'SIGCONT')
  await until(() => clients.every((c, i) => c.closed !== null || c.received > sentAt[i] + 2), () => `echoes after the move: ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(clients)))
  t.same(summary(clients).errors, [], 'nothing lost, repeated or reordered')
  t.equal(summary(clients).closed, 0, 'no client saw a close')
  t.same(clients.map((c) => c.lastPid).sort(), [d.old.pid, d.next.pid].sort(), 'one served by the new sibling, one by the old')
  const [o, n] = [await d.old.request('stats'), await d.next.request('stats')]
  t.same({ tracked: o.tracked, closes: o.closes }, { tracked: 1, closes: 0 }, 'the old sibling still holds the one')
  t.equal(n.resumed, 1, 'woken, the new sibling did not resume the late one (past its deadline)')
  await endDeploy(t, d, clients)
})

t.test('moved once with its client\'s context to a sibling that keeps none: cannot move again (compression), served on', async (t) => {
  checkFdLeaks(t)
  const d = await startDeploy(t, { deflate: true, compression: 'carry-window' }, { deflate: true, compression: 'no-context' })
  const clients = Array.from({ length: 5 }, () => new WsEcho(`ws://127.0.0.1:${d.port}/ws`, true))
  await openAll(clients)
  t.ok(clients.every((c) => !/client_no_context_takeover/.test(c.extensions)), 'each client keeps its compression context')
  const stop = traffic(clients, 50)
  await until(() => clients.every((c) => c.received >= 2), () => JSON.stringify(summary(clients)))
  const first = await d.old.request('move', { address: d.nextPath })
  t.same({ moved: first.report.moved, kept: first.report.kept }, { moved: 5, kept: {} }, 'all moved, their windows with them')
  await until(() => clients.every((c) => c.lastPid === d.next.pid), () => 'echoes from the new sibling')
  // The new sibling keeps no window: it cannot give the next one what the client's messages refer to.
  const second = await d.next.request('move', { address: d.oldPath })
  t.same({ moved: second.report.moved, kept: second.report.kept, closed: second.report.closed }, { moved: 0, kept: { compression: 5 }, closed: 0 },
    'none moved again: each kept for its compression context')
  const sentAt = clients.map((c) => c.sent)
  await until(() => clients.every((c, i) => c.closed !== null || c.received > sentAt[i] + 2), () => `echoes after: ${JSON.stringify(summary(clients))}`)
  stop()
  await until(() => clients.every((c) => c.closed !== null || c.received === c.sent), () => JSON.stringify(summary(clients)))
  t.same(summary(clients).errors, [], 'nothing lost, repeated or reordered')
  t.equal(summary(clients).closed, 0, 'no client saw a close')
  t.ok(clients.every((c) => c.lastPid === d.next.pid), 'each served on by the sibling that kept it')
  await endDeploy(t, d, clients)
})
