// takeover's `log` option: a HandoffLogger (pino's shape: pino, fastify.log,
// request.log), as every other logger option of the package takes; or the
// `(level, message)` function it took first, kept as an alias until the next
// minor version. Inside, takeover writes lines through one function.
import { ERR_HANDOFF_TAKEOVER_OPTION } from '../errors.js'
import type { HandoffLogger } from '../logger.js'

/** How takeover writes a line inside. */
export type TakeoverLogLine = (level: 'info' | 'warn', msg: string) => void

/** The `log` option: a HandoffLogger, or (deprecated) a `(level, message)` function. */
export type TakeoverLog = HandoffLogger | TakeoverLogLine

/** The option as a line-writing function; undefined when not given. */
export function logLine (log: TakeoverLog | undefined): TakeoverLogLine | undefined {
  if (log === undefined || typeof log === 'function') return log
  if (typeof log !== 'object' || log === null || typeof log.info !== 'function' || typeof log.warn !== 'function') {
    throw new ERR_HANDOFF_TAKEOVER_OPTION('log', 'expected a logger (pino\'s shape: info, warn, …) or a (level, message) function')
  }
  return (level, msg) => log[level]({}, msg)
}
