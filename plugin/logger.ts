// One logger type for the whole package: the part of pino's BaseLogger that
// fastify-handoff calls, so that pino, `fastify.log` and `request.log`
// (FastifyBaseLogger) are all one without a cast, and without a dependency
// on pino. Inside Fastify the package logs through `fastify.log` and
// `request.log`; outside (the framework-free sender and receiver, the
// node:http and Express adapters) it is silent unless a logger is passed or
// NODE_DEBUG=handoff is set: never console, never stderr of its own.
//
// Levels: a failure is one line (warn, or error for a connection closed
// unanswered) naming the reason and the connection; a successful handoff
// logs nothing at info, only at debug. Context comes through child loggers
// (`log.child({ target, receiver })`), not repeated on every line.
import { debuglog, inspect } from 'node:util'

/** Called as `(obj, msg)`, as pino's are. */
export type LogFn = (obj: object, msg?: string) => void

export interface HandoffLogger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
  child (bindings: Record<string, unknown>): HandoffLogger
}

const noop: LogFn = () => {}

/** Logs nothing. */
export const silentLogger: HandoffLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger
}

const debug = debuglog('handoff')

/** An Error as its code and message: enough on one line; the stack is in the pino output of a real logger. */
function flatten (value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${value.message}` : value.message
  }
  return value
}

function line (bindings: Record<string, unknown>, obj: object): string {
  const fields: Record<string, unknown> = { ...bindings, ...obj }
  for (const key of Object.keys(fields)) {
    // As pino's JSON would: a field left undefined is not there.
    if (fields[key] === undefined) delete fields[key]
    else fields[key] = flatten(fields[key])
  }
  return inspect(fields, { breakLength: Infinity, depth: 4 })
}

/** NODE_DEBUG=handoff: each line through util.debuglog ("HANDOFF <pid>: level msg {fields}"). */
function debugLogger (bindings: Record<string, unknown>): HandoffLogger {
  const at = (level: string): LogFn => (obj, msg) => debug('%s %s %s', level, msg ?? '', line(bindings, obj))
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => debugLogger({ ...bindings, ...more })
  }
}

/** What the package logs to when the user gave no logger: NODE_DEBUG=handoff, or nothing. */
export function defaultLogger (): HandoffLogger {
  return debug.enabled ? debugLogger({}) : silentLogger
}
