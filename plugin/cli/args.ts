// The command line: `fastify-handoff <status|check|watch> PATH [options]`.
// Parsed by hand (node:util's parseArgs would do, but its errors do not say
// which command was meant): every mistake is an ERR_HANDOFF_CLI_USAGE.
import { ERR_HANDOFF_CLI_USAGE } from '../errors.js'

export type Command = 'status' | 'check' | 'watch'
export const COMMANDS: readonly Command[] = ['status', 'check', 'watch']

export interface Options {
  command: Command | 'help' | 'version'
  /** The receiver's socket: a path, or "@name" for an abstract one. */
  path: string
  json: boolean
  /** watch: stop after this many refreshes (default: until SIGINT). */
  count: number | null
  /** watch: ms between refreshes. */
  interval: number
  /** ms to wait for the receiver's answer. */
  timeout: number
}

export const USAGE = `Usage: fastify-handoff <command> PATH [options]

Commands:
  status PATH   print a receiver's live connections, totals, senders and version
  check PATH    exit 0 when a fastify-handoff receiver answers at PATH, non-zero otherwise
  watch PATH    print the status again every second, until Ctrl-C

PATH is the receiver's socket file, or @NAME for a Linux abstract socket.

Options:
  --json           one JSON object (watch: one per line) instead of text
  --count N        watch: stop after N refreshes
  --interval MS    watch: ms between refreshes (default 1000)
  --timeout MS     how long to wait for the receiver's answer (default 3000)
  -h, --help       this text
  -v, --version    the tool's version

Exit status: 0 the receiver answered; 2 usage; 3 no such socket, or nothing
listening; 4 permission denied; 5 not a fastify-handoff receiver, or one too
old to answer; 1 anything else.
`

function positiveInteger (name: string, value: string | undefined, min: number): number {
  if (value === undefined) throw new ERR_HANDOFF_CLI_USAGE(`${name} needs a value`)
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > 0x7FFFFFFF) {
    throw new ERR_HANDOFF_CLI_USAGE(`${name} expects an integer from ${min}, got "${value}"`)
  }
  return n
}

export function parseArgs (argv: readonly string[]): Options {
  const options: Options = { command: 'help', path: '', json: false, count: null, interval: 1000, timeout: 3000 }
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    switch (arg) {
      case '-h': case '--help': return { ...options, command: 'help' }
      case '-v': case '--version': return { ...options, command: 'version' }
      case '--json': options.json = true; break
      case '--count': options.count = positiveInteger(arg, argv[++i], 1); break
      case '--interval': options.interval = positiveInteger(arg, argv[++i], 100); break
      case '--timeout': options.timeout = positiveInteger(arg, argv[++i], 1); break
      default:
        if (arg.startsWith('-') && arg !== '-') throw new ERR_HANDOFF_CLI_USAGE(`unknown option ${arg}`)
        positional.push(arg)
    }
  }
  if (positional.length === 0) throw new ERR_HANDOFF_CLI_USAGE('no command given')
  const [command, path, ...rest] = positional
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new ERR_HANDOFF_CLI_USAGE(`unknown command "${command}": expected ${COMMANDS.join(', ')}`)
  }
  if (path === undefined || path.length === 0) throw new ERR_HANDOFF_CLI_USAGE(`${command} needs the receiver's socket PATH`)
  if (rest.length > 0) throw new ERR_HANDOFF_CLI_USAGE(`unexpected argument "${rest[0]}"`)
  if (options.count !== null && command !== 'watch') throw new ERR_HANDOFF_CLI_USAGE('--count is for watch only')
  return { ...options, command: command as Command, path }
}
