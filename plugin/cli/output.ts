// Where the tool writes, and what becomes of an error: a message for people
// on stderr, a JSON object for scripts on stdout (--json), and an exit status
// a shell script can branch on without parsing either.
import { USAGE } from './args.js'

export interface Io {
  out (text: string): void
  err (text: string): void
  /** Whether stdout is a terminal (watch then redraws in place). */
  readonly tty: boolean
}

export const processIo: Io = {
  out: (text) => { process.stdout.write(text) },
  err: (text) => { process.stderr.write(text) },
  get tty () { return process.stdout.isTTY === true }
}

/** Exit statuses (documented in the --help text and docs/cli.md). */
export const EXIT = { ok: 0, failure: 1, usage: 2, noReceiver: 3, denied: 4, notReceiver: 5 } as const

const EXIT_BY_CODE: Record<string, number> = {
  ERR_HANDOFF_CLI_USAGE: EXIT.usage,
  ERR_HANDOFF_STATUS_NO_SOCKET: EXIT.noReceiver,
  ERR_HANDOFF_STATUS_NOT_LISTENING: EXIT.noReceiver,
  ERR_HANDOFF_STATUS_DENIED: EXIT.denied,
  ERR_HANDOFF_STATUS_UNTRUSTED: EXIT.denied,
  ERR_HANDOFF_STATUS_NOT_RECEIVER: EXIT.notReceiver,
  ERR_HANDOFF_STATUS_UNSUPPORTED: EXIT.notReceiver
}

export function exitCodeOf (err: unknown): number {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? EXIT_BY_CODE[code] ?? EXIT.failure : EXIT.failure
}

/** Reports `err` and returns the exit status it calls for. */
export function reportError (io: Io, err: unknown, json: boolean): number {
  const error = err instanceof Error ? err : new Error(String(err))
  const code = (error as { code?: unknown }).code
  io.err(`fastify-handoff: ${error.message}\n`)
  if (code === 'ERR_HANDOFF_CLI_USAGE') io.err(`\n${USAGE}`)
  if (json) io.out(JSON.stringify({ ok: false, error: { code: typeof code === 'string' ? code : 'ERR_HANDOFF_CLI_FAILURE', message: error.message } }) + '\n')
  return exitCodeOf(error)
}
