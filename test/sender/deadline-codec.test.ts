// The HANDOFF `deadline` member and the REJECT reason "expired" (PROTOCOL.md
// §6.2, §6.4, §7): what the sender's timeout semantics rest on.
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  encodeHandoff, decodeMessage, encodeReject, FrameType, DEFAULT_RETRYABLE, REJECT_REASONS
} from '../../plugin/protocol/index.js'

const head = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')

t.test('a deadline travels in the meta and comes back as sent', async (t) => {
  checkFdLeaks(t)
  const frame = encodeHandoff(7, { meta: { kind: 'upgrade', keepAlive: false, sentAt: 1000, deadline: 6000 }, head, buffered: Buffer.alloc(0) })
  const message = decodeMessage(frame)
  t.equal(message.type, FrameType.Handoff)
  if (message.type !== FrameType.Handoff) return
  t.equal(message.body.meta.deadline, 6000)
  t.match(frame.toString('latin1'), /"sentAt":1000,"deadline":6000/, 'written right after sentAt')
})

t.test('no deadline: the member is absent on the wire and after decoding', async (t) => {
  checkFdLeaks(t)
  const frame = encodeHandoff(7, { meta: { kind: 'upgrade', keepAlive: false, sentAt: 1000 }, head, buffered: Buffer.alloc(0) })
  t.notMatch(frame.toString('latin1'), /deadline/)
  const message = decodeMessage(frame)
  if (message.type !== FrameType.Handoff) throw new Error('not a HANDOFF')
  t.equal(message.body.meta.deadline, undefined)
})

t.test('a bad deadline is refused by the encoder and is "bad-metadata" for a reader', async (t) => {
  checkFdLeaks(t)
  for (const deadline of [-1, Number.NaN, Infinity, '5000']) {
    t.throws(() => encodeHandoff(1, { meta: { kind: 'upgrade', keepAlive: false, sentAt: 0, deadline } as never, head, buffered: Buffer.alloc(0) }),
      { code: 'ERR_HANDOFF_INVALID_ARG' }, `encoder refuses ${String(deadline)}`)
  }
  const good = encodeHandoff(1, { meta: { kind: 'upgrade', keepAlive: false, sentAt: 0, deadline: 12345 }, head, buffered: Buffer.alloc(0) })
  const bad = Buffer.from(good.toString('latin1').replace('"deadline":12345', '"deadline":"123"'), 'latin1')
  t.throws(() => decodeMessage(bad), { code: 'ERR_HANDOFF_PROTOCOL', reason: 'bad-metadata', fatal: false, id: 1 })
})

t.test('REJECT "expired" is a defined, non-retryable reason', async (t) => {
  checkFdLeaks(t)
  t.ok((REJECT_REASONS as readonly string[]).includes('expired'))
  t.equal(DEFAULT_RETRYABLE.expired, false)
  const message = decodeMessage(encodeReject(3, { reason: 'expired' }))
  t.same(message.body, { reason: 'expired', message: '', retryable: false })
})
