// The command-line tool: `fastify-handoff status|check|watch PATH`. run()
// returns the exit status instead of exiting, so that everything written
// reaches the terminal or pipe first (process.exitCode, never process.exit).
import { VERSION } from '../version.js'
import { USAGE, parseArgs, type Options } from './args.js'
import { formatStatus, statusJson } from './format.js'
import { EXIT, processIo, reportError, type Io } from './output.js'
import { parseAddress, queryStatus } from './query.js'
import { watch } from './watch.js'

async function once (options: Options, io: Io): Promise<number> {
  const answer = await queryStatus(parseAddress(options.path), { timeout: options.timeout })
  if (options.command === 'check') {
    const s = statusJson(answer)
    if (options.json) io.out(JSON.stringify({ ok: true, ...s }) + '\n')
    else io.out(`ok: fastify-handoff receiver at ${s.address} answers (pid ${s.receiver.pid}, ${s.receiver.implementation}, ${s.live} live)\n`)
  } else if (options.json) {
    io.out(JSON.stringify(statusJson(answer)) + '\n')
  } else {
    io.out(formatStatus(answer))
  }
  return EXIT.ok
}

export async function run (argv: readonly string[], io: Io = processIo): Promise<number> {
  let options: Options
  try {
    options = parseArgs(argv)
  } catch (err) {
    return reportError(io, err, argv.includes('--json'))
  }
  if (options.command === 'help') {
    io.out(USAGE)
    return EXIT.ok
  }
  if (options.command === 'version') {
    io.out(`fastify-handoff ${VERSION}\n`)
    return EXIT.ok
  }
  if (options.command === 'watch') return await watch(options, io)
  try {
    return await once(options, io)
  } catch (err) {
    return reportError(io, err, options.json)
  }
}
