// What the tool says of peers that speak the protocol wrongly: an ERROR
// (unauthorized: the receiver does not trust this process, exit 4; any other
// reason, before or after a HELLO: exit 5), a HELLO that does not decode, a
// STATUS where the STATUS_REPORT belongs, a HELLO then silence. Each peer is
// a real Unix socket server of this test. (The real untrusted-receiver case
// in errors.test.ts runs the tool as uid 65534, whose coverage is not
// recorded.)
import t from 'tap'
import { checkFdLeaks } from '../helpers/fds.js'
import { FrameType, encodeError, encodeFrame, encodeHello, encodeStatus } from '../../plugin/protocol/index.js'
import { fails, plainServer } from './helpers.js'

const OWN_UID = process.getuid?.() ?? -1

t.test('a peer that answers ERROR, a frame that does not decode, or something other than a STATUS_REPORT', async (t) => {
  checkFdLeaks(t)
  // ERROR in place of a HELLO: whatever it is, it is no receiver.
  const errs = await plainServer(t, (socket) => socket.end(encodeError({ reason: 'internal', message: 'not now' })))
  await fails(t, ['check', errs], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /is not a fastify-handoff receiver: it answered ERROR internal: not now/)

  // ERROR unauthorized: a receiver that does not trust this process (exit 4), even before its HELLO.
  const refuses = await plainServer(t, (socket) => socket.end(encodeError({ reason: 'unauthorized', message: 'uid not allowed' })))
  await fails(t, ['status', refuses], 4, 'ERR_HANDOFF_STATUS_UNTRUSTED',
    new RegExp(`does not trust this process \\(uid ${OWN_UID}, gid ${process.getgid?.() ?? -1};`))

  // A receiver's HELLO, then ERROR for the request: a receiver that will not answer it.
  const helloThenError = await plainServer(t, (socket) => {
    socket.write(encodeHello({ role: 'receiver', pid: process.pid }))
    socket.once('data', () => socket.end(encodeError({ reason: 'bad-type', message: 'type 32' })))
  })
  await fails(t, ['check', helloThenError], 5, 'ERR_HANDOFF_STATUS_UNSUPPORTED',
    /does not answer status requests \(ERROR bad-type: type 32\)/)

  // A receiver's HELLO, then a STATUS (type 5) in place of the STATUS_REPORT.
  const wrongAnswer = await plainServer(t, (socket) => {
    socket.write(encodeHello({ role: 'receiver', pid: process.pid }))
    socket.once('data', () => socket.write(encodeStatus({ live: 0, max: null, draining: false })))
  })
  await fails(t, ['check', wrongAnswer], 5, 'ERR_HANDOFF_STATUS_UNSUPPORTED',
    /does not answer status requests \(it answered a frame of type 5, not a STATUS_REPORT\)/)

  // A well-framed HELLO whose body is not JSON.
  const undecodable = await plainServer(t, (socket) => socket.write(encodeFrame(FrameType.Hello, 0, Buffer.from('{not json'))))
  await fails(t, ['check', undecodable], 5, 'ERR_HANDOFF_STATUS_NOT_RECEIVER', /is not a fastify-handoff receiver: it sent a frame that does not decode: /)

  // A receiver's HELLO, then silence: it took the request and never answered.
  const mute = await plainServer(t, (socket) => socket.write(encodeHello({ role: 'receiver', pid: process.pid })))
  await fails(t, ['check', mute, '--timeout', '300'], 5, 'ERR_HANDOFF_STATUS_UNSUPPORTED',
    /does not answer status requests \(it sent its HELLO, then sent nothing for 300 ms without a STATUS_REPORT\)/)
})
