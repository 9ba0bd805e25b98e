// Leak checks: every test that opens descriptors compares /proc/self/fd (or,
// for a child, /proc/<pid>/fd) before and after.
import fs from 'node:fs'
import type { Test } from 'tap'

export function openFds (pid: number | 'self' = 'self'): string[] {
  const dir = `/proc/${pid}/fd`
  if (!fs.existsSync(dir)) {
    // macOS: /dev/fd lists this process's descriptors.
    return pid === 'self' ? fs.readdirSync('/dev/fd') : []
  }
  return fs.readdirSync(dir)
}

/**
 * The open descriptors as "fd -> what it points to". One that is gone by the
 * time it is read is left out: it was closed meanwhile (for this process,
 * the directory descriptor of the listing itself is always one).
 */
export function describeFds (pid: number | 'self' = 'self'): string[] {
  if (!fs.existsSync(`/proc/${pid}/fd`)) return openFds(pid) // macOS: numbers only
  return openFds(pid).flatMap((fd) => {
    try {
      return [`${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`]
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? [] : [fd]
    }
  })
}

/** How long a test's descriptors may take to settle back after it ends (a leak is reported only then). */
const SETTLE_LIMIT_MS = 10000

/** What differs between two listings of describeFds(), or null when they are the same set. */
function difference (before: string[], after: string[]): { opened: string[], closed: string[] } | null {
  const opened = after.filter((fd) => !before.includes(fd))
  const closed = before.filter((fd) => !after.includes(fd))
  return opened.length === 0 && closed.length === 0 ? null : { opened, closed }
}

/**
 * Waits until this process's descriptors are the set `before` again, or
 * `limitMs` have passed: the difference then, or null. Closing a libuv
 * handle finishes in a later turn of the event loop (and a child's pipes once
 * it has exited), so a difference is looked at again each turn, then every
 * 10 ms; when nothing differs, nothing waits.
 */
export async function fdsSettled (before: string[], limitMs = SETTLE_LIMIT_MS): Promise<{ opened: string[], closed: string[] } | null> {
  const started = Date.now()
  for (let turn = 0; ; turn++) {
    const differs = difference(before, describeFds())
    if (differs === null || Date.now() - started >= limitMs) return differs
    await new Promise((resolve) => turn < 10 ? setImmediate(resolve) : setTimeout(resolve, 10))
  }
}

/**
 * Records the open descriptors (numbers and what they point to) now and, at
 * the end of the test `t`, asserts that the process has the same set again
 * (fdsSettled), listing what differs if not.
 * Call it first thing in a test; register cleanups that close things after
 * it, tap runs teardowns in reverse order.
 */
export function checkFdLeaks (t: Test): void {
  const before = describeFds()
  t.teardown(async () => {
    const differs = await fdsSettled(before)
    if (differs !== null) {
      // tap (18+) refuses assertions once a test has ended, and teardowns
      // run after the end; an error thrown here still fails the test.
      throw Object.assign(new Error(`descriptor leak: ${before.length} open before the test, ` +
        `${before.length + differs.opened.length - differs.closed.length} after (still so ${SETTLE_LIMIT_MS} ms later): ` +
        `opened ${JSON.stringify(differs.opened)}, closed ${JSON.stringify(differs.closed)}`), differs)
    }
  })
}

/** Waits (bounded, polling /proc: a process emits nothing when it closes a descriptor) until `pid` has `count` descriptors. */
export async function fdsBackTo (pid: number, count: number, limitMs = 15000): Promise<number> {
  const deadline = Date.now() + limitMs
  for (let turn = 0; ; turn++) {
    const now = openFds(pid).length
    if (now === count || Date.now() >= deadline) return now
    await new Promise((resolve) => setTimeout(resolve, turn < 10 ? 1 : 20))
  }
}
