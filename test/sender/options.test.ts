// A Sender refuses options it could not honour, at construction, with a typed
// error: not later, inside a reconnect loop or a timer that fires at once.
import t from 'tap'
import path from 'node:path'
import { Sender, type SenderOptions, type TargetOptions } from '../../plugin/sender/index.js'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from './helpers.js'

t.test('options are checked', async (t) => {
  checkFdLeaks(t)
  const sockPath = path.join(tmpDir(t), 'nobody.sock')
  const bad: Array<[string, SenderOptions]> = [
    ['no targets', {} as SenderOptions],
    ['an empty name', { targets: { ws: sockPath }, name: '' }],
    ['a name of 256 code points (it goes in every HELLO)', { targets: { ws: sockPath }, name: '🦊'.repeat(256) }],
    ['a timeout beyond 2^31 - 1 ms (Node would fire it after 1 ms)', { targets: { ws: sockPath }, timeout: 2 ** 31 }],
    ['a target\'s helloTimeout of Infinity', { targets: { ws: { path: sockPath, helloTimeout: Infinity } } }],
    ['a frameTimeout of 0', { targets: { ws: sockPath }, frameTimeout: 0 }],
    ['a negative grace', { targets: { ws: sockPath }, grace: -1 }],
    ['a receiverTarget of 256 code points', { targets: { ws: { path: sockPath, receiverTarget: 'x'.repeat(256) } } }]
  ]
  for (const [what, options] of bad) {
    t.throws(() => new Sender(options), { code: 'ERR_HANDOFF_SENDER_OPTION' }, what)
  }
  // A target's allowlist is the receiver's rule (plugin/credentials.ts), reported under the sender's own option name.
  const badAllow: Array<[string, unknown, RegExp]> = [
    ['uids that are not numbers', { uids: ['root'] }, /"targets\.ws\.allow\.uids"/],
    ['a negative gid', { gids: [-1] }, /"targets\.ws\.allow\.gids"/],
    ['an allowlist that allows nobody', {}, /"targets\.ws\.allow": allows nobody/],
    ['null', null, /"targets\.ws\.allow"/]
  ]
  for (const [what, allow, message] of badAllow) {
    t.throws(() => new Sender({ targets: { ws: { path: sockPath, allow } as TargetOptions } }), { code: 'ERR_HANDOFF_SENDER_OPTION', message }, `allow: ${what}`)
  }
  // The limits count code points, as PROTOCOL.md does: 255 of them outside the BMP fit.
  const sender = new Sender({
    targets: { ws: { path: sockPath, receiverTarget: '🦊'.repeat(255), timeout: 2 ** 31 - 1 } },
    name: '🦊'.repeat(255)
  })
  t.equal(sender.names().length, 1, 'names and timeouts at their limits are taken')
  await sender.close()
})
