// Shared by the takeover tests: generations of test/fixtures/takeover-webapp.js,
// the listening socket's inode by the kernel's word, and bounded client loops
// that count every failure by its kind.
import fs from 'node:fs'
import http from 'node:http'
import type { Test } from 'tap'
import { Agent, request as undiciRequest } from 'undici'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { Child, FIXTURES, childEnv, forkFixture } from '../helpers/child.js'
import { WsClient } from '../examples/helpers.js'

export interface Gen { child: Child, port: number, generation: number, source: string, pid: number }

/** Starts one generation and waits until it listens (throws with what it said if it fails). */
export async function startGen (t: Test, config: Record<string, unknown>, label = 'generation'): Promise<Gen> {
  const child = forkFixture('takeover-webapp.js', config, label, t)
  const msg = await child.waitFor((m) => m.event === 'listening' || m.event === 'failed', 'listening')
  if (msg.event === 'failed') throw new Error(`${label} failed: ${msg.code as string} ${msg.message as string}`)
  return { child, port: msg.port, generation: msg.generation, source: msg.source, pid: child.pid }
}

/**
 * A generation started the way systemd starts a service: `fds` as its
 * descriptors 3, 4, … and `env` (LISTEN_FDS, LISTEN_FDNAMES) describing
 * them; LISTEN_PID is the shell's pid, which exec keeps for node (systemd
 * sets it after fork the same way). Killed at the end of `t`.
 */
export function startActivated (t: Test, config: Record<string, unknown>, fds: Array<number | 'pipe' | 'ignore'>,
  env: Record<string, string>, label: string): Child {
  const script = `LISTEN_PID=$$ exec "${process.execPath}" "${path.join(FIXTURES, 'takeover-webapp.js')}" '${JSON.stringify(config)}'`
  const proc = spawn('/bin/sh', ['-c', script], { env: { ...childEnv(), ...env }, stdio: ['ignore', 'inherit', 'inherit', ...fds, 'ipc'] })
  const child = new Child(proc, label)
  t.teardown(() => child.kill())
  return child
}

/** The inode of the socket listening on 127.0.0.1:`port`, from /proc/net/tcp. */
export function listeningInode (port: number): string {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    // local address, state 0A = LISTEN, inode in column 10
    if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') return cols[9]
  }
  throw new Error(`nothing listens on port ${port}`)
}

/** The socket inodes `pid` holds open (/proc/<pid>/fd → "socket:[inode]"). */
export function socketInodes (pid: number): string[] {
  const out: string[] = []
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m !== null) out.push(m[1])
    } catch { /* closed meanwhile */ }
  }
  return out
}

export interface Tally { ok: number, failed: number, errors: Record<string, number>, pids: Set<number> }

function tally (): Tally { return { ok: 0, failed: 0, errors: {}, pids: new Set() } }

function fail (t: Tally, err: unknown): void {
  t.failed++
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
  t.errors[code] = (t.errors[code] ?? 0) + 1
}

/** A loop of requests, one after another, until stop() or `maxCount` (bounded either way). */
export class Loop {
  readonly tally = tally()
  private stopped = false
  private waiters: Array<{ n: number, resolve: () => void }> = []
  readonly done: Promise<void>

  constructor (one: () => Promise<number>, maxCount = 20000) {
    this.done = (async () => {
      for (let i = 0; i < maxCount && !this.stopped; i++) {
        try {
          this.tally.pids.add(await one())
          this.tally.ok++
        } catch (err) {
          fail(this.tally, err)
        }
        this.waiters = this.waiters.filter((w) => { if (this.count < w.n) return true; w.resolve(); return false })
      }
      this.stopped = true
      for (const w of this.waiters.splice(0)) w.resolve()
    })()
  }

  get count (): number { return this.tally.ok + this.tally.failed }

  /** Resolves once `more` further requests have completed (progress, not time). */
  progress (more: number): Promise<void> {
    const n = this.count + more
    return this.stopped || this.count >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }))
  }

  async stop (): Promise<Tally> { this.stopped = true; await this.done; return this.tally }
}

/** GET /gen on a new connection each time (agent: false, Connection: close). */
export function perConnection (port: number): () => Promise<number> {
  return () => new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/gen', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { body += d })
      res.on('end', () => res.statusCode === 200 ? resolve(JSON.parse(body).pid) : reject(new Error(`HTTP ${String(res.statusCode)}`)))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/** GET /gen through an undici Agent (keep-alive, its connections reused). */
export function keepAlive (port: number, agent: Agent): () => Promise<number> {
  return async () => {
    const res = await undiciRequest(`http://127.0.0.1:${port}/gen`, { dispatcher: agent })
    const body = await res.body.json() as { pid: number }
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
    return body.pid
  }
}

/** Opens a WebSocket on /ws (handed off to the sibling); resolves with the sibling's pid once it greeted. Kept in `kept`. */
export function wsHandoffs (port: number, kept: WsClient[]): () => Promise<number> {
  return async () => {
    const ws = new WsClient(`ws://127.0.0.1:${port}/ws`)
    kept.push(ws)
    await ws.opened
    const hello = await ws.next((m) => typeof m.pid === 'number')
    return hello.pid
  }
}

export { Agent }
