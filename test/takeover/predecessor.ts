// A successor facing a "running generation" that breaks the takeover
// protocol (a peer of this test on the control socket): an OFFER whose
// descriptor is not a listening socket, a frame that does not decode, a
// message other than OFFER or REFUSE. Each time the successor takes nothing,
// fails to start with ERR_HANDOFF_TAKEOVER_PROTOCOL saying what was wrong,
// and the descriptors it was sent are closed, not served.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { forkFixture } from '../helpers/child.js'

const { Conversation } = require('../../dist/takeover/conversation.js')
const { TakeoverType, encode, takeoverFramer } = require('../../dist/takeover/messages.js')
const { Channel } = require('../../dist/channel.js')
const { listenUnix } = require('../../dist/unix.js')

interface Conv {
  next: (types: number[], timeoutMs: number) => Promise<unknown>
  send: (message: { type: number, body: unknown }, fds?: number[]) => Promise<void>
  close: () => void
}

interface RawChannel {
  once: (event: 'message', listener: () => void) => void
  send: (frame: Buffer, fds: number[]) => Promise<void>
  close: () => void
}

/**
 * A control socket at a fresh path whose "running generation" takes each
 * successor's connection with `accept` (which returns what to close at the
 * end); returns the path.
 */
async function fakeRunning (t: Test, accept: (fd: number) => { close: () => void }): Promise<string> {
  const control = path.join(tmpDir(t, 'takeover-pred-'), 'control.sock')
  const listener = await listenUnix(control)
  const open: Array<{ close: () => void }> = []
  listener.on('connection', (fd: number) => open.push(accept(fd)))
  t.teardown(async () => {
    for (const o of open) o.close()
    listener.close()
    await once(listener, 'close')
  })
  return control
}

/** A running generation that waits for the ASK and answers with `answer`. */
const answering = (answer: (conv: Conv) => Promise<void>) => (fd: number): Conv => {
  const conv = new Conversation(fd) as Conv
  conv.next([TakeoverType.Ask], 10000).then(async () => await answer(conv)).catch(() => {})
  return conv
}

/** Starts a successor on `control` and returns how it failed. */
async function successorFails (t: Test, control: string): Promise<{ code: string, message: string }> {
  const successor = forkFixture('takeover-webapp.js', { control }, 'successor', t)
  const failed = await successor.event('failed')
  t.equal((await successor.exited).code, 1, 'the successor does not start')
  return failed as { code: string, message: string }
}

const LISTENER = { name: 'http', kind: 'tcp', address: '127.0.0.1:1' }

t.test('an OFFER whose descriptor is not a listening socket', async (t) => {
  checkFdLeaks(t)
  const control = await fakeRunning(t, answering(async (conv) => {
    const file = fs.openSync('/dev/null', 'r')
    try {
      await conv.send({ type: TakeoverType.Offer, body: { pid: process.pid, generation: 1, listeners: [LISTENER] } }, [file])
    } finally {
      fs.closeSync(file)
    }
  }))
  t.match(await successorFails(t, control), {
    code: 'ERR_HANDOFF_TAKEOVER_PROTOCOL',
    message: /listener "http" \(tcp\) came as a descriptor that is not a listening tcp socket/
  })
})

t.test('a frame that does not decode in place of the OFFER', async (t) => {
  checkFdLeaks(t)
  const control = await fakeRunning(t, (fd) => {
    const channel = new Channel(fd, takeoverFramer) as RawChannel
    // Once the ASK is in: a well-framed OFFER header with a body that is not JSON.
    channel.once('message', () => {
      const header = Buffer.from(encode({ type: TakeoverType.Ready, body: { pid: 1 } }).subarray(0, 12))
      header[3] = TakeoverType.Offer
      const body = Buffer.from('nope')
      const size = Buffer.alloc(4)
      size.writeUInt32BE(body.length)
      channel.send(Buffer.concat([header, size, body]), []).catch(() => {})
    })
    return channel
  })
  t.match(await successorFails(t, control), { code: 'ERR_HANDOFF_TAKEOVER_PROTOCOL', message: /no OFFER: .*not JSON/ })
})

t.test('a READY (the successor\'s message) in place of the OFFER', async (t) => {
  checkFdLeaks(t)
  const control = await fakeRunning(t, answering(async (conv) => {
    await conv.send({ type: TakeoverType.Ready, body: { pid: process.pid } })
  }))
  t.match(await successorFails(t, control), { code: 'ERR_HANDOFF_TAKEOVER_PROTOCOL', message: /no OFFER: unexpected READY/ })
})
