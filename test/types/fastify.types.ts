// Type tests for the Fastify plugin's declaration merging: compiled with
// `tsc --noEmit -p test/types` by types.test.ts (tap itself runs TypeScript
// transpile-only, so it would not notice a type error). Every
// `@ts-expect-error` line must be an error, or tsc fails ("unused directive").
// Never run: tap leaves *.types.ts out (package.json's tap.exclude).
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import { fastifyHandoff, type HandoffDecorator, type HandoffRouteConfig } from '../../plugin/fastify.js'
import type { HandoffResult, TargetHealth } from '../../plugin/sender/index.js'
import type { HandoffLogger } from '../../plugin/logger.js'
import type { Logger as PinoLogger } from 'pino'
import { Registry } from 'prom-client'

async function main (): Promise<void> {
  const app = Fastify()
  await app.register(fastifyHandoff, {
    targets: { chat: '/run/chat.sock', pool: { path: ['/run/a.sock', '/run/b.sock'], balance: 'least-connections', timeout: 2000, grace: 500 } },
    retryAfter: 10
  })
  // @ts-expect-error an unknown balancing policy
  await app.register(fastifyHandoff, { targets: { x: { path: '/x', balance: 'random' } } })
  // @ts-expect-error timeout is a number of milliseconds
  await app.register(fastifyHandoff, { targets: { x: { path: '/x', timeout: '5s' } } })
  // Whose receiver a target trusts: uids and gids.
  await app.register(fastifyHandoff, { targets: { x: { path: { abstract: 'x' }, allow: { uids: [1000], gids: [1000] } } } })
  // @ts-expect-error uids are numbers, not user names
  await app.register(fastifyHandoff, { targets: { x: { path: '/x', allow: { uids: ['www-data'] } } } })

  // The route option: a target name, or the full form.
  app.get('/ws', { handoff: 'chat' }, async () => 'local')
  app.get('/ws2', {
    handoff: { target: 'pool', context: (request: FastifyRequest) => ({ user: request.headers['x-user'] }), fallback: 'local', upgradeOnly: true }
  }, async () => 'local')
  app.route({ method: 'GET', url: '/ws3', handoff: { target: 'chat' }, handler: async () => 'x' })
  // @ts-expect-error the handoff option needs a target
  app.get('/bad1', { handoff: { context: () => ({}) } }, async () => 'x')
  // @ts-expect-error fallback is 'unavailable' or 'local'
  app.get('/bad2', { handoff: { target: 'chat', fallback: 'retry' } }, async () => 'x')
  // @ts-expect-error the route option is not a number
  app.get('/bad3', { handoff: 42 }, async () => 'x')

  // Side by side with @fastify/websocket's route option.
  await app.register(websocket)
  app.get('/both', { websocket: true, handoff: { target: 'chat', fallback: 'local' } }, (socket) => { socket.send('local') })

  // Hooks fill the context; reply.handoff for SSE.
  app.addHook('onRequest', async (request) => {
    request.handoffContext = { user: 'alice' }
  })
  app.get('/sse', async (request, reply) => {
    const result: HandoffResult = await reply.handoff('chat', { topic: 'news' })
    const handed: boolean = result.handedOff
    void handed
    await reply.handoff('chat')
    await reply.handoff('chat', undefined, { fallback: async (r: HandoffResult) => { reply.raw.end(r.outcome) } })
    // @ts-expect-error the target is a name
    await reply.handoff(42)
    // @ts-expect-error fallback is 'unavailable' or a function
    await reply.handoff('chat', {}, { fallback: 'local' })
    await reply.handoff('chat', {}, { laterRequests: 'sibling' })
    // @ts-expect-error laterRequests is 'close' or 'sibling'
    await reply.handoff('chat', {}, { laterRequests: 'receiver' })
  })

  // Decorators.
  const decorator: HandoffDecorator = app.handoff
  const health: Record<string, TargetHealth> = app.handoff.health()
  const healthy: boolean = app.handoff.healthy('chat') && app.handoff.healthy()
  const state: 'idle' | 'connecting' | 'ready' | 'draining' | 'down' | 'closed' = health.chat.receivers[0].state
  const readiness: Promise<void> = app.handoff.ready('chat')
  void decorator; void healthy; void state; void readiness
  // @ts-expect-error health() takes no target
  app.handoff.health('chat')
  // Metrics: a prom-client Registry as it is; the stats' shape.
  await app.register(fastifyHandoff, { targets: { chat: '/run/chat.sock' }, metrics: { registry: new Registry() } })
  // @ts-expect-error the registry goes in { registry }
  await app.register(fastifyHandoff, { targets: { chat: '/run/chat.sock' }, metrics: new Registry() })
  const stats = app.handoff.stats()
  const accepted: number = stats.targets.chat.outcomes.accepted
  const p99: Array<[number, number]> = stats.targets.chat.latency.buckets
  const reconnects: number = stats.targets.chat.receivers['/run/chat.sock'].reconnects
  void accepted; void p99; void reconnects
  // @ts-expect-error no such outcome
  void stats.targets.chat.outcomes.handedOff

  const config: HandoffRouteConfig = { target: 'chat' }
  void config
  const typed = (request: FastifyRequest, reply: FastifyReply): Promise<HandoffResult> => reply.handoff('chat', request.handoffContext)
  void typed

  // One logger type: pino's logger, fastify.log and request.log are HandoffLoggers, with no cast.
  const fromApp: HandoffLogger = app.log
  const fromRequest = (request: FastifyRequest): HandoffLogger => request.log
  const fromPino = (pino: PinoLogger): HandoffLogger => pino
  void fromApp; void fromRequest; void fromPino
  await app.register(fastifyHandoff, { targets: { x: '/x' }, log: app.log.child({ part: 'handoff' }) })
  // @ts-expect-error a logger has pino's shape: info, warn and error alone lack debug and child
  const partial: HandoffLogger = { info () {}, warn () {}, error () {} }
  void partial
}
void main
