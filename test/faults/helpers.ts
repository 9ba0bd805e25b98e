// Shared by the fault suite: a storm of real TCP clients on loopback, each
// classified by what it received before the connection closed, and the
// per-process descriptor checks. Nothing here sleeps as synchronisation:
// clients wait for their answer (with a generous limit that turns a hang into
// a counted verdict), and descriptor counts are polled with a bound that
// reports what was seen.
import net from 'node:net'
import path from 'node:path'
import type { Test } from 'tap'
import { Child, forkFixture, stopChild } from '../helpers/child.js'
import { clientFrame, serverFrames, upgradeRequest } from '../helpers/clients.js'
import { describeFds, fdsBackTo } from '../helpers/fds.js'
import { tmpDir } from '../helpers/tmp.js'
import { parseResponse } from '../sender/helpers.js'

export { Child, forkFixture, stopChild, type Message } from '../helpers/child.js'
export { checkFdLeaks } from '../helpers/fds.js'

/**
 * What one client saw, by the suite's definitions:
 * - served: one whole answer from the sibling (its pid in it), nothing else;
 * - fallback: one whole 503 from the web app (only the web app writes 503), nothing else;
 * - double: bytes of two answers (both processes, or one twice);
 * - lost: the connection closed (or was reset) without any answer;
 * - cut: the start of one answer, then the close (its writer died mid-answer);
 * - hung: neither an answer nor a close within the limit;
 * - garbled: bytes that are no answer of either process.
 */
export type Verdict = 'served' | 'fallback' | 'double' | 'lost' | 'cut' | 'hung' | 'garbled'

export interface Outcome {
  index: number
  kind: 'upgrade' | 'request'
  /** The client's own port: the web app's results name it. */
  port: number
  verdict: Verdict
  /** The pid in a sibling's answer. */
  servedBy?: number
  /** The start of what was received, for failure messages. */
  text: string
}

const ANSWER_LIMIT_MS = 20000

/** Classifies everything a client received, once its connection closed. */
export function classify (kind: 'upgrade' | 'request', data: Buffer): { verdict: Verdict, servedBy?: number } {
  if (data.length === 0) return { verdict: 'lost' }
  // Two status lines anywhere: two answers, whoever wrote them.
  const first = data.indexOf('HTTP/1.1 ')
  if (first !== 0) return { verdict: 'garbled' }
  if (data.indexOf('HTTP/1.1 ', 1) !== -1) return { verdict: 'double' }
  const response = parseResponse(data)
  if (response === null) return { verdict: 'cut' }
  if (response.status === 503) return { verdict: response.length === data.length ? 'fallback' : 'double' }
  if (kind === 'request' && response.status === 200) {
    let pid: unknown
    try { pid = JSON.parse(response.body).pid } catch { return { verdict: 'garbled' } }
    if (typeof pid !== 'number') return { verdict: 'garbled' }
    return { verdict: response.length === data.length ? 'served' : 'double', servedBy: pid }
  }
  if (kind === 'upgrade' && response.status === 101) {
    // The sibling's greeting (a text frame naming its pid), then the close
    // frame answering ours; anything else after the handshake is not its.
    const frames = serverFrames(data)
    if (frames.length === 0) return { verdict: 'cut' }
    let pid: unknown
    try { pid = JSON.parse(frames[0]?.payload.toString() ?? '').pid } catch { return { verdict: 'garbled' } }
    if (typeof pid !== 'number') return { verdict: 'garbled' }
    const rest = frames.slice(1)
    const clean = rest.every((f) => f.opcode === 8) && rest.length <= 1
    return { verdict: clean ? 'served' : 'double', servedBy: pid }
  }
  return { verdict: 'garbled' }
}

/**
 * One client: connects, sends an upgrade to /ws or a request to /sse
 * (Connection: close), and collects every byte until the connection closes.
 * An upgrade that got the sibling's greeting sends a WebSocket close, which
 * the sibling answers and then closes; every FIN is answered with ours. With
 * `release`, both wait for it: the connection stays open (held by whichever
 * process has it) and bytes a second writer might send still arrive.
 */
export function oneClient (port: number, index: number, kind: 'upgrade' | 'request', limitMs = ANSWER_LIMIT_MS, release?: Promise<void>): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    const chunks: Buffer[] = []
    let clientPort = 0
    let closing = false
    let hung = false
    const timer = setTimeout(() => {
      hung = true
      socket.destroy()
    }, limitMs)
    socket.on('connect', () => {
      clientPort = socket.localPort as number
      socket.write(kind === 'upgrade'
        ? upgradeRequest(`/ws?i=${index}`, port).text
        : `GET /sse?i=${index} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    })
    socket.on('data', (data) => {
      chunks.push(data)
      if (kind === 'upgrade' && !closing && serverFrames(Buffer.concat(chunks)).length > 0) {
        closing = true
        const close = (): void => { if (!socket.destroyed) socket.write(clientFrame(8, Buffer.from([0x03, 0xe8]))) }
        if (release === undefined) close()
        else void release.then(close)
      }
    })
    socket.on('end', () => { if (release === undefined) socket.end(); else void release.then(() => socket.end()) })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const data = Buffer.concat(chunks)
      const text = data.toString('latin1').slice(0, 300)
      if (hung) {
        resolve({ index, kind, port: clientPort, verdict: 'hung', text })
        return
      }
      resolve({ index, kind, port: clientPort, text, ...classify(kind, data) })
    })
  })
}

export interface StormOptions {
  total: number
  concurrency: number
  /** Which kind client `i` is (default: alternate upgrades and requests). */
  kind?: (i: number) => 'upgrade' | 'request'
  /** Called after each client finishes, with every outcome so far (e.g. to kill a process at a count). */
  onOutcome?: (outcome: Outcome, all: Outcome[]) => void
  limitMs?: number
  /** Clients keep their connection open after the answer until this resolves (see oneClient). */
  release?: Promise<void>
}

/** `total` clients against the web app at `port`, `concurrency` at a time. */
export async function storm (port: number, options: StormOptions): Promise<Outcome[]> {
  const kind = options.kind ?? ((i: number) => (i % 2 === 0 ? 'upgrade' : 'request'))
  const outcomes: Outcome[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < options.total) {
      const i = next++
      const outcome = await oneClient(port, i, kind(i), options.limitMs, options.release)
      outcomes.push(outcome)
      options.onOutcome?.(outcome, outcomes)
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.total) }, worker))
  return outcomes.sort((a, b) => a.index - b.index)
}

export function tally (outcomes: Outcome[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { served: 0, fallback: 0, double: 0, lost: 0, cut: 0, hung: 0, garbled: 0 }
  for (const o of outcomes) counts[o.verdict]++
  return counts
}

/**
 * The suite's invariants over a storm: nobody hung, nobody double-served,
 * nothing garbled, nothing lost or cut off except the clients listed in
 * `excused` (client indexes: connections their owner could not answer, e.g. a killed
 * receiver's), and the counts add up.
 */
export function assertInvariants (t: Test, outcomes: Outcome[], total: number, excused: Set<number> = new Set()): Record<Verdict, number> {
  const counts = tally(outcomes)
  const show = (v: Verdict): string => JSON.stringify(outcomes.filter((o) => o.verdict === v).slice(0, 3))
  t.equal(outcomes.length, total, 'every client finished')
  t.equal(counts.hung, 0, `0 hung ${show('hung')}`)
  t.equal(counts.double, 0, `0 double-served ${show('double')}`)
  t.equal(counts.garbled, 0, `0 garbled ${show('garbled')}`)
  const unanswered = outcomes.filter((o) => o.verdict === 'lost' || o.verdict === 'cut')
  const lost = unanswered.filter((o) => !excused.has(o.index))
  t.equal(lost.length, 0, `0 silently lost ${JSON.stringify(lost.slice(0, 3))}`)
  t.equal(counts.served + counts.fallback + unanswered.length - lost.length, total, 'served + fallback (+ excused) == total')
  return counts
}

/**
 * Waits until `pid` has `baseline` descriptors open, polling with a bound
 * (closing handles finish in other processes' loops), then asserts it,
 * listing them if not.
 */
export async function expectFds (t: Test, pid: number, baseline: number, label: string, limitMs = 10000): Promise<void> {
  const count = await fdsBackTo(pid, baseline, limitMs)
  t.equal(count, baseline, `${label}: descriptors back to baseline (${baseline})`, count === baseline ? {} : { open: describeFds(pid) })
}

/** The real receiver (createReceiver in a node:http + ws sibling, test/fixtures/receiver-ws.js), once it listens. */
export async function startReceiver (t: Test, sockPath: string, label = 'receiver', extra: object = {}): Promise<Child> {
  const child = forkFixture('receiver-ws.js', { path: sockPath, ...extra }, label, t)
  await child.event('ready')
  return child
}

/** The real sender (createSender in a node:http web app, test/fixtures/receiver-webapp.js), once it listens. */
export async function startWebapp (t: Test, sockPath: string, options: { timeout?: number, grace?: number, name?: string } = {}, label = 'webapp'): Promise<Child & { port: number }> {
  const child = forkFixture('receiver-webapp.js', { path: sockPath, ...options }, label, t)
  const { port } = await child.event('listening')
  return Object.assign(child, { port: port as number })
}

/** Waits for the web app to report idle (nothing unsettled, no connection), failing with what it saw. */
export async function webappIdle (t: Test, webapp: Child): Promise<void> {
  const idle = await webapp.request('idle')
  t.ok(idle.idle, `${webapp.label} idle (unsettled ${String(idle.unsettled)}, connections ${String(idle.connections)})`)
}

export function socketDir (t: Test): string {
  return tmpDir(t, 'handoff-faults-')
}

export const sockIn = (dir: string, name = 'r.sock'): string => path.join(dir, name)

/** ms since `started`, for the figures the tests print. */
export const since = (started: number): number => Date.now() - started

export interface Pair {
  sockPath: string
  receiver: Child
  webapp: Child & { port: number }
  /** Descriptors each process holds idle, with the sender's channel connected. */
  receiverFds: number
  webappFds: number
}

/** A real receiver and a real web app connected to it, with their idle descriptor counts. */
export async function startPair (t: Test, options: { timeout?: number, grace?: number, name?: string } = {}): Promise<Pair> {
  const sockPath = sockIn(socketDir(t))
  const receiver = await startReceiver(t, sockPath)
  const webapp = await startWebapp(t, sockPath, options)
  await receiver.event('peer')
  return { sockPath, receiver, webapp, receiverFds: receiver.fds(), webappFds: webapp.fds() }
}

/** Both idle, both back to their descriptor baselines, both stopped the way their fixtures expect. */
export async function finishPair (t: Test, receiver: Child, receiverFds: number, webapp: Child, webappFds: number): Promise<void> {
  await receiver.request('idle')
  await webappIdle(t, webapp)
  await expectFds(t, webapp.pid, webappFds, webapp.label)
  await expectFds(t, receiver.pid, receiverFds, receiver.label)
  await stopChild(t, webapp, 'exit')
  await stopChild(t, receiver, 'close')
}
