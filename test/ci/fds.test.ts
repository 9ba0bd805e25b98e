// The leak check every test relies on (test/helpers/fds.ts): it compares the
// SET of descriptors (numbers and what they point to), not their count, and
// waits for closes still under way instead of a fixed turn of the loop.
import t from 'tap'
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { describeFds, fdsSettled } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'

t.test('a descriptor left open is reported, with what it points to', async (t) => {
  const file = path.join(tmpDir(t, 'fds-'), 'left-open')
  const before = describeFds()
  const fd = fs.openSync(file, 'w')
  t.teardown(() => { try { fs.closeSync(fd) } catch {} })
  t.same(await fdsSettled(before, 50), { opened: [`${fd} -> ${file}`], closed: [] }, 'the open file, after the limit')
  fs.closeSync(fd)
  t.equal(await fdsSettled(before, 50), null, 'closed: the same set again')
})

t.test('the same number of descriptors, but another one, is a difference', async (t) => {
  const dir = tmpDir(t, 'fds-')
  const first = fs.openSync(path.join(dir, 'first'), 'w')
  t.teardown(() => { try { fs.closeSync(first) } catch {} })
  const before = describeFds()
  fs.closeSync(first)
  // The lowest free number: the one `first` had.
  const second = fs.openSync(path.join(dir, 'second'), 'w')
  t.teardown(() => fs.closeSync(second))
  t.equal(second, first, 'the number is reused')
  t.equal(describeFds().length, before.length, 'as many descriptors as before')
  t.same(await fdsSettled(before, 50), { opened: [`${second} -> ${path.join(dir, 'second')}`], closed: [`${first} -> ${path.join(dir, 'first')}`] })
})

t.test('a close still under way when the test ends is waited for, not reported', async (t) => {
  const before = describeFds()
  // A child's pipes close only once it has died and the loop has read their
  // ends: in later turns of the event loop than the kill.
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['pipe', 'pipe', 'pipe'] })
  await new Promise((resolve) => child.once('spawn', resolve))
  child.kill('SIGKILL')
  t.not(difference(before), null, 'right after the kill, its pipes are still open')
  t.equal(await fdsSettled(before, 10000), null, 'the set settles back')
})

function difference (before: string[]): string[] | null {
  const now = describeFds()
  return now.length === before.length && now.every((fd) => before.includes(fd)) ? null : now
}
