// The command-line tool run for real: `node dist/cli/bin.js ...` as a child
// process (optionally as another uid, through setpriv), its output and exit
// status collected. A run that does not end within the limit is killed and
// fails with what it printed: never a hang.
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import type { Test } from 'tap'
import { childEnv } from '../helpers/child.js'
import { tmpDir } from '../helpers/tmp.js'

export const BIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'bin.js')
const RUN_LIMIT_MS = 20000

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface CliProcess {
  pid: number
  /** Resolves with the first stdout that matches. */
  output: (match: RegExp) => Promise<string>
  signal: (sig: NodeJS.Signals) => void
  done: Promise<CliRun>
}

/** Starts `fastify-handoff ...args`; with `asUser`, as that uid and gid (the tests run as root). */
export function startCli (args: string[], options: { asUser?: number } = {}): CliProcess {
  const id = String(options.asUser)
  const child = options.asUser === undefined
    ? spawn(process.execPath, [BIN, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('setpriv', [`--reuid=${id}`, `--regid=${id}`, '--clear-groups', 'env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE',
      process.execPath, BIN, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let waiters: Array<() => void> = []
  const wake = (): void => { const w = waiters; waiters = []; for (const f of w) f() }
  child.stdout.setEncoding('utf8').on('data', (data: string) => { stdout += data; wake() })
  child.stderr.setEncoding('utf8').on('data', (data: string) => { stderr += data; wake() })
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS)
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
      wake()
    })
  })
  let exited = false
  void done.then(() => { exited = true })
  const output = async (match: RegExp): Promise<string> => {
    for (;;) {
      const m = match.exec(stdout)
      if (m !== null) return m[0]
      if (exited) throw new Error(`fastify-handoff ${args.join(' ')} ended without printing ${String(match)}:\n${stdout}\n${stderr}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { pid: child.pid as number, output, signal: (sig) => child.kill(sig), done }
}

/** Runs `fastify-handoff ...args` to its end. */
export async function cli (args: string[], options: { asUser?: number } = {}): Promise<CliRun> {
  const run = await startCli(args, options).done
  if (run.signal === 'SIGKILL') throw new Error(`fastify-handoff ${args.join(' ')} did not end within ${RUN_LIMIT_MS} ms:\n${run.stdout}\n${run.stderr}`)
  return run
}

/** A plain Unix socket server (not a receiver) that treats each connection with `serve`; closed at teardown. */
export async function plainServer (t: Test, serve: (socket: net.Socket) => void): Promise<string> {
  const sockPath = path.join(tmpDir(t, 'cli-plain-'), 'plain.sock')
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
    serve(socket)
  })
  await new Promise<void>((resolve) => server.listen(sockPath, resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return sockPath
}

/** Checks a failed run: its exit status, its message on stderr, and the --json form of the same error. */
export async function fails (t: Test, args: string[], status: number, code: string, message: RegExp, options: { asUser?: number } = {}): Promise<void> {
  const run = await cli(args, options)
  t.equal(run.code, status, `exit ${status}`, { stdout: run.stdout, stderr: run.stderr })
  t.match(run.stderr, message)
  t.equal(run.stdout, '', 'nothing on stdout without --json')
  const json = await cli([...args, '--json'], options)
  t.equal(json.code, status, `--json: exit ${status}`)
  t.match(JSON.parse(json.stdout), { ok: false, error: { code, message } }, `--json: ${code}`)
}
