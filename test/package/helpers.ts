// Runs a Node script to its end in a process of its own (as a user's program
// would load the package) and hands back its exit and output. The limit is
// generous: it is there to report a hang, not to time anything.
import { execFile } from 'node:child_process'
import { childEnv } from '../helpers/child.js'

export interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export function runNode (args: string[], options: { cwd: string, timeout?: number, env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: options.cwd, env: { ...childEnv(), ...options.env }, timeout: options.timeout ?? 60000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        const failure = err as (Error & { code?: number, signal?: NodeJS.Signals }) | null
        resolve({ code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null, signal: failure?.signal ?? null, stdout, stderr })
      })
  })
}

/** The last line of a run's stdout as JSON (what the fixture reports), or null with the run described. */
export function report<T> (run: Run): T | null {
  const last = run.stdout.trim().split('\n').pop() ?? ''
  try { return JSON.parse(last) as T } catch { return null }
}
