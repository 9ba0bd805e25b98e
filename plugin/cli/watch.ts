// `watch PATH`: the status again every interval, until SIGINT (Ctrl-C) or
// `--count` refreshes. A failed query is shown and the watch goes on: an
// operator watching a restart sees the receiver go and come back. Bounded:
// one query at a time, each within its timeout, and nothing left behind
// (the SIGINT handler and the timer go when it stops).
import type { Options } from './args.js'
import { formatStatus, statusJson } from './format.js'
import { EXIT, reportError, type Io } from './output.js'
import { parseAddress, queryStatus } from './query.js'

/** Clears a terminal and puts the cursor home, so each refresh replaces the last. */
const CLEAR = '\x1b[H\x1b[2J'

export async function watch (options: Options, io: Io): Promise<number> {
  const address = parseAddress(options.path)
  let stopped = false
  let wake: (() => void) | null = null
  const onSigint = (): void => {
    stopped = true
    wake?.()
  }
  process.on('SIGINT', onSigint)
  let status: number = EXIT.ok
  try {
    // eslint-disable-next-line no-unmodified-loop-condition -- the calls in the loop change it (closures)
    for (let refreshes = 0; !stopped;) {
      const started = Date.now()
      try {
        const answer = await queryStatus(address, { timeout: options.timeout })
        if (options.json) io.out(JSON.stringify(statusJson(answer)) + '\n')
        else io.out(`${io.tty ? CLEAR : refreshes === 0 ? '' : '\n'}${new Date().toISOString()}\n${formatStatus(answer)}`)
        status = EXIT.ok
      } catch (err) {
        if (!options.json && io.tty) io.out(CLEAR)
        status = reportError(io, err, options.json)
      }
      refreshes++
      if (stopped || (options.count !== null && refreshes >= options.count)) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, options.interval - (Date.now() - started)))
        wake = () => { clearTimeout(timer); resolve() }
      })
      wake = null
    }
  } finally {
    process.off('SIGINT', onSigint)
  }
  return status
}
