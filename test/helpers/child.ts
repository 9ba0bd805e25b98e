// Child processes driven over IPC, shared by the receiver, sender, Fastify
// and adapter tests. Every message is kept, so a wait never misses one that
// came early; nothing sleeps.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import type { Test } from 'tap'
import { openFds } from './fds.js'

export const FIXTURES = path.join(__dirname, '..', 'fixtures')

export type Message = Record<string, any>

/** How long any single wait on a child may take before the test fails with what it saw. */
const WAIT_LIMIT_MS = 20000

export class Child {
  readonly proc: ChildProcess
  readonly label: string
  readonly messages: Message[] = []
  private readonly taken = new Set<number>()
  private waiters: Array<() => void> = []
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>

  constructor (proc: ChildProcess, label: string) {
    this.proc = proc
    this.label = label
    proc.on('message', (msg: Message) => {
      this.messages.push(msg)
      this.wake()
    })
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        resolve({ code, signal })
        this.wake()
      })
    })
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  get pid (): number { return this.proc.pid as number }
  get alive (): boolean { return this.proc.exitCode === null && this.proc.signalCode === null }

  /**
   * The first message (not taken by an earlier wait) that matches, now or
   * later. The limit is not synchronisation: it turns a hang into a failure
   * that shows what the child did say.
   */
  async waitFor (match: (msg: Message) => boolean, what = 'a message', limitMs = WAIT_LIMIT_MS): Promise<Message> {
    const deadline = Date.now() + limitMs
    for (;;) {
      for (let i = 0; i < this.messages.length; i++) {
        if (!this.taken.has(i) && match(this.messages[i])) {
          this.taken.add(i)
          return this.messages[i]
        }
      }
      if (!this.alive) throw new Error(`${this.label} exited while waiting for ${what}: ${JSON.stringify(this.messages)}`)
      if (Date.now() >= deadline) throw new Error(`${this.label}: no ${what} within ${limitMs} ms: ${JSON.stringify(this.messages)}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  event (name: string, match: (msg: Message) => boolean = () => true): Promise<Message> {
    return this.waitFor((msg) => msg.event === name && match(msg), `event ${name}`)
  }

  /** Messages seen so far for `name` (taken or not). */
  seen (name: string): Message[] {
    return this.messages.filter((msg) => msg.event === name)
  }

  async request (cmd: string, extra: Message = {}): Promise<Message> {
    this.proc.send({ cmd, ...extra })
    return await this.waitFor((msg) => msg.reply === cmd, `reply ${cmd}`)
  }

  /** Descriptors the child has open now (from /proc). */
  fds (): number { return openFds(this.pid).length }

  kill (): void { if (this.alive) this.proc.kill('SIGKILL') }
}

/**
 * The children are plain Node processes: without tap's loaders (execArgv)
 * and its process-info hook (NODE_OPTIONS), which, among other things, writes
 * into .tap/ at exit, where a child running as another uid may not write.
 * When tap collects coverage, Node itself records theirs (NODE_V8_COVERAGE)
 * into tap's coverage directory, where tap's report merges it with the rest;
 * a child started as another uid must drop NODE_V8_COVERAGE too.
 */
export function childEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  const coverage = env._TAPJS_PROCESSINFO_COVERAGE_ === '1' && env.TAP_CWD !== undefined
  delete env.NODE_OPTIONS
  for (const key of Object.keys(env)) if (key.startsWith('_TAPJS_')) delete env[key]
  if (coverage) env.NODE_V8_COVERAGE = path.join(env.TAP_CWD as string, '.tap', 'coverage')
  return env
}

/**
 * Forks test/fixtures/<fixture> with `config` as its JSON argument; with `t`,
 * it is killed at the end of `t`. `execArgv`: Node options for the child.
 */
export function forkFixture (fixture: string, config: object, label: string = fixture, t?: Test, execArgv: string[] = []): Child {
  const proc = fork(path.join(FIXTURES, fixture), [JSON.stringify(config)], {
    execArgv, env: childEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const child = new Child(proc, label)
  t?.teardown(() => child.kill())
  return child
}

/**
 * Runs `command args` as `uid` (and the same gid, no supplementary groups)
 * through setpriv, with an IPC channel (newline-delimited JSON for a child
 * that is not Node); with `t`, it is killed at the end of `t`. The tests run
 * as root: this is how they get a stranger.
 */
export function spawnAs (uid: number, command: string, args: string[], label: string, t?: Test): Child {
  const id = String(uid)
  // `env -u`: tap's process-info hook puts NODE_OPTIONS back into every
  // spawn; under another uid it could not write its report into .tap/,
  // nor Node its coverage (NODE_V8_COVERAGE, childEnv).
  const proc = spawn('setpriv', [`--reuid=${id}`, `--regid=${id}`, '--clear-groups', 'env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', command, ...args],
    { env: childEnv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const child = new Child(proc, `${label}(uid ${id})`)
  t?.teardown(() => child.kill())
  return child
}

/** Ends a child the way its fixture expects (`cmd` over IPC) and checks it exited on its own, with code 0. */
export async function stopChild (t: Test, child: Child, cmd: string): Promise<void> {
  if (!child.alive) return
  child.proc.send({ cmd })
  const { code, signal } = await child.exited
  t.equal(code, 0, `${child.label} exited cleanly`)
  t.equal(signal, null, `${child.label} was not killed`)
}
