// One line of setup for an HTTP app: `await listen(app, { port, host, control })`
// with a Fastify instance, a node:http server or an Express app's server
// (http.createServer(app)). The listening socket comes from the running
// generation (takeover), else from systemd, else a fresh bind; once this
// generation is ready the previous one stops accepting and drains; when a
// successor takes over from this one, this one does the same and, for
// Fastify, closes the app (its onClose hooks run) once drained.
import fs from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ERR_HANDOFF_TAKEOVER_OPTION } from '../errors.js'
import { listeningFd, nameUnixServer } from '../internals.js'
import { drainer } from './drain.js'
import { defaultLogger } from '../logger.js'
import { takeover, type Generation, type ListenerSource, type TakeoverOptions } from './generation.js'
import { logLine, type TakeoverLogLine } from './log.js'

/** What listen() needs of a Fastify instance (no import of fastify: it is an optional peer). */
interface FastifyLike {
  server: HttpServer
  listen: (opts: { fd?: number, port?: number, host?: string, backlog?: number }) => Promise<string>
  close: () => Promise<unknown>
  log: { info: (msg: string) => void, warn: (msg: string) => void }
}

export interface ListenOptions extends TakeoverOptions {
  /** The listener's name between generations (and in LISTEN_FDNAMES); default "http". */
  listener?: string
  /** Where to bind when nothing is handed over. */
  port?: number
  host?: string
  backlog?: number
  /** ms the retiring generation waits for its connections to end before it closes the rest (default 30000). */
  drainTimeout?: number
  /**
   * Written (atomically: a temporary file renamed over it) with this pid once
   * this generation is ready: systemd's PIDFile= then follows the new main
   * process when the old one exits (docs/zero-downtime.md).
   */
  pidFile?: string
}

export interface ListenResult {
  generation: Generation
  source: ListenerSource
  /** "127.0.0.1:3000" */
  address: string
}

function isFastify (target: unknown): target is FastifyLike {
  const t = target as Partial<FastifyLike> & { decorate?: unknown }
  return typeof t === 'object' && t !== null && typeof t.decorate === 'function' && typeof t.listen === 'function' && typeof t.server === 'object'
}

export function formatAddress (address: string | AddressInfo | null): string {
  if (address === null) return '?'
  if (typeof address === 'string') return address
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`
}

function listenServer (server: HttpServer, how: { fd?: number, port?: number, host?: string, backlog?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(how, () => { server.off('error', reject); resolve() })
  })
}

/**
 * Listens `target` on the listener named `options.listener` (default
 * "http") of the generation it starts (see takeover()), and reports ready.
 * With several servers, call takeover() once and listenOn() for each.
 */
export async function listen (target: FastifyLike | HttpServer, options: ListenOptions): Promise<ListenResult> {
  const log = logLine(options.log) ?? defaultLog(target)
  const generation = await takeover({ ...options, log })
  try {
    const result = await listenOn(generation, target, options)
    await generation.ready()
    if (options.pidFile !== undefined) writePidFile(options.pidFile)
    return result
  } catch (err) {
    generation.close()
    const server = isFastify(target) ? target.server : target
    if (server.listening) await (isFastify(target) ? target.close() : new Promise((resolve) => server.close(resolve)))
    throw err
  }
}

/** Listens one server of `generation` (before its ready()) and arranges its retirement. */
export async function listenOn (generation: Generation, target: FastifyLike | HttpServer, options: Omit<ListenOptions, 'control'>): Promise<ListenResult> {
  const name = options.listener ?? 'http'
  const drainTimeout = options.drainTimeout ?? 30000
  if (!Number.isInteger(drainTimeout) || drainTimeout <= 0) throw new ERR_HANDOFF_TAKEOVER_OPTION('drainTimeout', 'expected a positive integer (ms)')
  const fastify = isFastify(target) ? target : null
  const server = fastify?.server ?? (target as HttpServer)
  const claimed = generation.claim(name)
  // Node ignores the host when it is given a descriptor; Fastify would bind
  // a second socket for "localhost", so it gets an address instead.
  const how = claimed !== null
    ? { fd: claimed.fd, host: '127.0.0.1', backlog: options.backlog }
    : { port: options.port ?? 0, host: options.host, backlog: options.backlog }
  // A Unix socket (systemd's, or a predecessor's): its path, or which descriptor it came as when systemd does not say.
  if (claimed?.kind === 'unix') nameUnixServer(server, claimed.address ?? `fd ${claimed.fd}`)
  const drain = drainer(server)
  if (fastify !== null) await fastify.listen(how)
  else await listenServer(server, how)
  const address = formatAddress(server.address())
  const kind = claimed?.kind ?? (typeof server.address() === 'string' ? 'unix' : 'tcp')
  generation.offer({ name, kind, address, fd: () => listeningFd(server), identity: claimed?.identity ?? null })
  server.once('close', () => { generation.withdraw(name); generation.close() })
  const log = logLine(options.log) ?? defaultLog(target)
  generation.once('handover', () => {
    drain.retire(drainTimeout).then(async ({ forced }) => {
      log(forced > 0 ? 'warn' : 'info', `takeover: listener ${name} drained${forced > 0 ? `; ${forced} connection(s) still open after ${drainTimeout} ms were closed` : ''}`)
      if (fastify !== null) await fastify.close()
      generation.emit('retired', { forced })
    }).catch((err) => log('warn', `takeover: retiring listener ${name} failed: ${String(err)}`))
  })
  return { generation, source: claimed?.source ?? 'bind', address }
}

function writePidFile (file: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 })
  fs.renameSync(tmp, file)
}

function defaultLog (target: FastifyLike | HttpServer): TakeoverLogLine {
  if (isFastify(target)) return (level, msg) => target.log[level](msg)
  // Outside Fastify: silent unless NODE_DEBUG=handoff (plugin/logger.ts), never console.
  const quiet = defaultLogger()
  return (level, msg) => quiet[level]({}, msg)
}
