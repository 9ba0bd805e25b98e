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

export function describeFds (pid: number | 'self' = 'self'): string[] {
  return openFds(pid).map((fd) => {
    try { return `${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}` } catch { return fd }
  })
}

/**
 * Records the open descriptors now and, at the end of the test `t`, asserts
 * that the process has exactly as many again (listing what differs if not).
 * Call it first thing in a test; register cleanups that close things after it,
 * tap runs teardowns in reverse order.
 */
export function checkFdLeaks (t: Test): void {
  const before = describeFds()
  t.teardown(async () => {
    // Closing a libuv handle finishes in the loop's close phase: give
    // pending closes their turn before counting.
    await new Promise((resolve) => setTimeout(resolve, 0))
    await new Promise((resolve) => setImmediate(resolve))
    const after = describeFds()
    if (after.length !== before.length) {
      // tap (18+) refuses assertions once a test has ended, and teardowns run
      // after the end; an error thrown here still fails the test.
      throw Object.assign(new Error(`descriptor leak: ${before.length} open before the test, ${after.length} after`), {
        opened: after.filter((fd) => !before.includes(fd)),
        closed: before.filter((fd) => !after.includes(fd))
      })
    }
  })
}
