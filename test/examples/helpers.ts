// Real processes and real clients for the demo and example tests: a child
// process whose output lines can be awaited, HTTP requests on connections of
// their own (no pooled sockets left behind for the descriptor check), and a
// WebSocket client whose messages can be awaited. Nothing here sleeps: a
// test waits for the line, message or event that says a thing happened.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import readline from 'node:readline'
import type { Test } from 'tap'
import WebSocket from 'ws'

export const ROOT = path.join(__dirname, '..', '..')
export const EXAMPLES = path.join(ROOT, 'examples')

export interface Line { stream: 'stdout' | 'stderr', text: string }
export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export class Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly lines: Line[] = []
  /** Resolves once the process exited and its output was read to the end. */
  readonly closed: Promise<Exit>
  private exit: Exit | null = null
  private waiters = new Set<() => void>()

  constructor (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.name = name
    this.child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    for (const stream of ['stdout', 'stderr'] as const) {
      readline.createInterface({ input: this.child[stream] as NodeJS.ReadableStream }).on('line', (text) => {
        this.lines.push({ stream, text })
        if (process.env.EXAMPLES_VERBOSE !== undefined) console.error(`${name} ${stream}: ${text}`)
        for (const w of [...this.waiters]) w()
      })
    }
    this.child.stdin?.on('error', () => {})
    this.closed = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
        for (const w of [...this.waiters]) w()
      })
    })
  }

  get pid (): number { return this.child.pid as number }
  get running (): boolean { return this.exit === null }

  /** The first line (past or future) matching `re`; rejects when the process ends without one. */
  waitFor (re: RegExp, options: { stream?: Line['stream'], after?: number } = {}): Promise<RegExpExecArray> {
    const from = options.after ?? 0
    let seen = from
    return new Promise((resolve, reject) => {
      const check = (): void => {
        for (; seen < this.lines.length; seen++) {
          const line = this.lines[seen]
          if (options.stream !== undefined && line.stream !== options.stream) continue
          const m = re.exec(line.text)
          if (m !== null) {
            this.waiters.delete(check)
            resolve(m)
            return
          }
        }
        if (this.exit !== null) {
          this.waiters.delete(check)
          reject(new Error(`${this.name} ended (${this.exit.signal ?? String(this.exit.code)}) without printing ${String(re)}:\n${this.text()}`))
        }
      }
      this.waiters.add(check)
      check()
    })
  }

  /** How many lines so far; pass it as `after` to wait for a line printed from now on. */
  get mark (): number { return this.lines.length }

  count (re: RegExp, stream?: Line['stream']): number {
    return this.lines.filter((l) => (stream === undefined || l.stream === stream) && re.test(l.text)).length
  }

  text (): string {
    return this.lines.map((l) => `${l.stream === 'stderr' ? '! ' : '  '}${l.text}`).join('\n')
  }

  send (line: string): void {
    this.child.stdin?.write(`${line}\n`)
  }

  kill (signal: NodeJS.Signals): void {
    if (this.exit === null) this.child.kill(signal)
  }

  /** Teardown: SIGKILL it if it still runs; resolves when closed. */
  async stop (): Promise<void> {
    this.kill('SIGKILL')
    this.child.stdin?.destroy()
    await this.closed
  }
}

/** `node <file> ...args` from the repository root, stopped at teardown. */
export function node (t: Test, file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Proc {
  const proc = new Proc(path.basename(path.dirname(file)) + '/' + path.basename(file), process.execPath, [path.join(ROOT, file), ...args], env)
  t.teardown(() => proc.stop())
  return proc
}

/** Any command, stopped at teardown. */
export function command (t: Test, name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const proc = new Proc(name, cmd, args, env)
  t.teardown(() => proc.stop())
  return proc
}

/** Asserts that `proc` exits with `code` (showing its output if not). */
export async function exitsWith (t: Test, proc: Proc, code = 0): Promise<Exit> {
  const exit = await proc.closed
  t.same(exit, { code, signal: null }, `${proc.name} exits with ${code}`, { output: proc.text() })
  return exit
}

/**
 * Whether a process with this pid still runs. A zombie (exited, not yet
 * reaped: an orphan waits for whoever adopts it) does not count.
 */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", the state after the last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false // gone meanwhile
  }
}

/**
 * Resolves once the process `pid` (not necessarily our child) has exited:
 * a pidfd (Linux 5.3+) becomes readable then. Through python3, since Node
 * has no pidfd API. Resolves at once if it is already gone.
 */
export async function waitExit (pid: number): Promise<void> {
  const script = 'import os, select, sys\n' +
    'try:\n  fd = os.pidfd_open(int(sys.argv[1]))\nexcept ProcessLookupError:\n  sys.exit(0)\n' +
    'select.select([fd], [], [])\n'
  const proc = new Proc(`wait for ${pid}`, 'python3', ['-c', script, String(pid)])
  const exit = await proc.closed
  if (exit.code !== 0) throw new Error(`waiting for process ${pid} failed: ${proc.text()}`)
}

export interface Response { status: number, headers: http.IncomingHttpHeaders, body: string }

/** One HTTP request on a connection of its own, closed afterwards. */
export function request (url: string, options: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: { connection: 'close', ...options.headers }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

export async function getJson (url: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await request(url, { headers })
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status} ${res.body}`)
  return JSON.parse(res.body)
}

/** A WebSocket client whose messages (JSON) can be awaited. */
export class WsClient {
  readonly ws: WebSocket
  readonly messages: any[] = []
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number, reason: string }>
  private waiters = new Set<() => void>()
  private isClosed = false

  constructor (url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      // A refused handshake: ws aborts it, emits this error, then 'close'.
      this.ws.once('error', (err) => {
        const status = /Unexpected server response: (\d+)/.exec(err.message)
        reject(status === null ? err : Object.assign(err, { statusCode: Number(status[1]) }))
      })
    })
    this.opened.catch(() => {})
    this.ws.on('error', () => {})
    this.ws.on('message', (data) => {
      try { this.messages.push(JSON.parse(data.toString())) } catch { this.messages.push(data.toString()) }
      for (const w of [...this.waiters]) w()
    })
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => {
      this.isClosed = true
      resolve({ code, reason: reason.toString() })
      for (const w of [...this.waiters]) w()
    }))
  }

  /** The first message (past or future, from index `after`) matching `pred`. */
  next (pred: (msg: any) => boolean, after = 0): Promise<any> {
    let seen = after
    return new Promise((resolve, reject) => {
      const check = (): void => {
        for (; seen < this.messages.length; seen++) {
          if (pred(this.messages[seen])) {
            this.waiters.delete(check)
            resolve(this.messages[seen])
            return
          }
        }
        if (this.isClosed) {
          this.waiters.delete(check)
          reject(new Error(`the WebSocket closed before the message awaited; got ${JSON.stringify(this.messages.slice(-5))}`))
        }
      }
      this.waiters.add(check)
      check()
    })
  }

  get mark (): number { return this.messages.length }

  send (msg: unknown): void { this.ws.send(JSON.stringify(msg)) }

  /** Teardown: closes it at once if still open; resolves when closed. */
  async stop (): Promise<void> {
    if (!this.isClosed) this.ws.terminate()
    await this.closed
  }
}

export function wsClient (t: Test, url: string, headers: Record<string, string> = {}): WsClient {
  const client = new WsClient(url, headers)
  t.teardown(() => client.stop())
  return client
}

/** Rejects after `limitMs` with what was awaited: a hang becomes a failure that says what it waited for. */
export function within<T> (what: string, promise: Promise<T>, limitMs = 20000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((resolve, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${limitMs} ms`)), limitMs) })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** A loopback port that was free a moment ago (for a process that needs a number: pm2's app, haproxy). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}
