// wsMigration() refuses options it cannot use, at creation, each with
// ERR_HANDOFF_MIGRATE_OPTION naming the option (the move options too, before
// any move is tried), and a second move while one runs with
// ERR_HANDOFF_MIGRATE_BUSY; startSibling() refuses a sibling without a
// receiver path, and one whose receiver cannot start leaves nothing behind.
import t from 'tap'
import path from 'node:path'
import { WebSocketServer } from 'ws'
import { checkFdLeaks } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import fs from 'node:fs'
import { startSibling, wsMigration, type MigrationOptions, type SiblingOptions } from '../../plugin/migrate/index.js'

t.test('options it cannot use are refused at creation, naming the option', async (t) => {
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => wss.close())
  const refused: Array<[string, unknown]> = [
    ['options', null],
    ['wss', {}],
    ['wss', { wss: { options: {} } }],
    ['compression', { wss, compression: 'gzip' }],
    ['state', { wss, state: 'rooms' }],
    ['resume', { wss, resume: {} }],
    ['concurrency', { wss, move: { concurrency: 0 } }],
    ['concurrency', { wss, move: { concurrency: 2.5 } }],
    ['cutTimeout', { wss, move: { cutTimeout: -1 } }],
    ['timeout', { wss, move: { timeout: Infinity } }],
    ['drainTimeout', { wss, move: { drainTimeout: '1s' } }],
    ['retries', { wss, move: { retries: -1 } }],
    ['retries', { wss, move: { retries: 0.5 } }]
  ]
  for (const [name, options] of refused) {
    t.throws(() => wsMigration(options as MigrationOptions), { code: 'ERR_HANDOFF_MIGRATE_OPTION', message: new RegExp(`"${name}"`) },
      `${JSON.stringify(options, (k, v) => v === wss ? '<wss>' : v === Infinity ? 'Infinity' : v)}: "${name}"`)
  }
  const fine = wsMigration({ wss, move: { concurrency: 4, retries: 0 } })
  fine.close()
})

t.test('a second move while one runs is refused; the first goes on', async (t) => {
  checkFdLeaks(t)
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => wss.close())
  const migration = wsMigration({ wss })
  t.teardown(() => migration.close())
  // Nobody listens there: the first move finds no connection to move either way.
  const nowhere = path.join(tmpDir(t), 'nobody.sock')
  const first = migration.moveTo(nowhere)
  await t.rejects(migration.moveTo(nowhere), { code: 'ERR_HANDOFF_MIGRATE_BUSY' })
  t.match(await first, { moved: 0, closed: 0, kept: {} }, 'the first move ends (nothing to move)')
})

t.test('startSibling(): no receiver path, or a receiver that cannot start: refused, typed, nothing left behind', async (t) => {
  checkFdLeaks(t)
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => wss.close())
  const migration = wsMigration({ wss })
  t.teardown(() => migration.close())
  const dir = tmpDir(t)
  const control = path.join(dir, 'control.sock')
  const sockPath = path.join(dir, 'receiver.sock')
  await t.rejects(startSibling({ control, migration, receiver: {} } as unknown as SiblingOptions),
    { code: 'ERR_HANDOFF_MIGRATE_OPTION', message: /"receiver.path"/ }, 'no receiver path')
  await t.rejects(startSibling({ control, migration, receiver: { path: sockPath, maxConnections: -1 } }),
    { code: 'ERR_HANDOFF_RECEIVER_OPTION', message: /"maxConnections"/ }, 'a receiver option it cannot use: the receiver\'s own error')
  t.same(fs.readdirSync(dir), [], 'neither the control socket nor the receiver\'s is left behind')
})
