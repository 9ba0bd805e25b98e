// The receiver logs through a pino-compatible logger: `logger.warn(obj, msg)`.
// Without one, warnings and errors still go to stderr: a refused peer or a
// dropped channel is something an operator must be able to see.
export interface Logger {
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

function toStderr (level: string) {
  return (obj: object, msg?: string): void => {
    let detail = ''
    try { detail = JSON.stringify(obj, (key, value: unknown) => value instanceof Error ? value.message : value) } catch { /* unserialisable: leave it out */ }
    process.stderr.write(`fastify-handoff receiver ${level}: ${msg ?? ''} ${detail}\n`)
  }
}

export const defaultLogger: Logger = {
  info: () => {},
  warn: toStderr('warn'),
  error: toStderr('error')
}
