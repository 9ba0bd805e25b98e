// A sibling deploy as the migration tests run it: a web app handing
// WebSockets off to the old sibling, a new sibling on its own path, clients
// through the web app, and the descriptor counts of all three processes.
import path from 'node:path'
import type { Test } from 'tap'
import { forkFixture, stopChild, type Child } from './child.js'
import { openFds } from './fds.js'
import { tmpDir } from './tmp.js'

export interface Deploy {
  web: Child
  port: number
  old: Child
  next: Child
  oldPath: string
  nextPath: string
  /** Descriptors each process had before any client. */
  baseline: { web: number, old: number, next: number }
}

export interface SiblingConfig {
  deflate?: boolean
  compression?: 'no-context' | 'carry-window'
  dieAfter?: number
  /** false: the sibling's migration has no resume hook (as a new sibling, it refuses every WebSocket). */
  resume?: false
  /** The sibling's resume hook throws. */
  resumeThrows?: boolean
  /** The sibling stops itself (SIGSTOP) once it has resumed this many WebSockets. */
  stopAfter?: number
}

/** Clients per run: the issue asks 1,000; MIGRATE_CLIENTS lowers it on a machine too loaded for that. */
export const CLIENTS = Number(process.env.MIGRATE_CLIENTS ?? 1000)

export async function startDeploy (t: Test, config: SiblingConfig, nextConfig: SiblingConfig = config): Promise<Deploy> {
  const dir = tmpDir(t, 'handoff-migrate-')
  const oldPath = path.join(dir, 'old.sock')
  const nextPath = path.join(dir, 'next.sock')
  const old = forkFixture('migrate-sibling.js', { path: oldPath, ...config }, 'old sibling', t)
  const next = forkFixture('migrate-sibling.js', { path: nextPath, ...nextConfig }, 'new sibling', t)
  await Promise.all([old.event('ready'), next.event('ready')])
  const web = forkFixture('receiver-webapp.js', { path: oldPath }, 'web app', t)
  const { port } = await web.event('listening')
  // The web app's channel to the old sibling is part of its baseline.
  // (Polled, bounded: the fixture reports no event when its link comes up.)
  const deadline = Date.now() + 15000
  while ((await web.request('health')).health.sibling.healthy !== true) {
    if (Date.now() >= deadline) throw new Error('the web app never connected to the old sibling')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return { web, port, old, next, oldPath, nextPath, baseline: { web: openFds(web.pid).length, old: openFds(old.pid).length, next: openFds(next.pid).length } }
}

/**
 * Ends the three processes of a deploy the way their fixtures expect and
 * checks each exits on its own, with code 0 (which is also when Node writes
 * a child's coverage: a child killed at teardown leaves none).
 */
export async function finishDeploy (t: Test, d: Pick<Deploy, 'web' | 'old' | 'next'>): Promise<void> {
  await stopChild(t, d.web, 'exit')
  await stopChild(t, d.old, 'exit')
  await stopChild(t, d.next, 'exit')
}
