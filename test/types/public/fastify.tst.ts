// Type tests (tstyche, `npm run test:types`) of the public surface as a user
// imports it: by the package's name, so through package.json's `exports` and
// the emitted .d.ts (run `npm run build:ts` first). The Fastify face: the
// plugin as the module, its options, the route option, reply.handoff,
// app.handoff, request.handoff on a sibling.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import { describe, expect, test } from 'tstyche'
import fastifyHandoff, {
  handoffReceiver, handoffInfo, type FastifyHandoffOptions, type HandoffInfo, type HandoffResult, type HandoffRouteOption,
  type TargetHealth, type HandoffReceiverOptions
} from 'fastify-handoff'
import cjs = require('fastify-handoff')

describe('the module', () => {
  test('is the plugin, with .default and .fastifyHandoff on it', () => {
    expect(cjs.default).type.toBe(fastifyHandoff)
    expect(cjs.fastifyHandoff).type.toBe(fastifyHandoff)
    expect(cjs).type.toBeAssignableTo<typeof cjs.default>()
  })

  test('registers as the module itself, with its options checked', async () => {
    const app = Fastify()
    await app.register(fastifyHandoff, { targets: { chat: '/run/chat.sock' }, timeout: 5000 })
    await app.register(cjs, { targets: { pool: ['/run/a.sock', '/run/b.sock'] } })
    expect(app.register).type.toBeCallableWith(fastifyHandoff, { targets: { x: { path: '/x', balance: 'least-connections' as const } } })
    expect(app.register).type.not.toBeCallableWith(fastifyHandoff, { targets: { x: { path: '/x', balance: 'random' as const } } })
    expect(app.register).type.not.toBeCallableWith(fastifyHandoff, { targets: { x: { path: '/x', timeout: '5s' } } })
    expect<FastifyHandoffOptions>().type.toHaveProperty('targets')
  })

  test('has no internals on it', () => {
    expect(cjs).type.not.toHaveProperty('native')
    expect(cjs).type.not.toHaveProperty('Link')
    expect(cjs).type.not.toHaveProperty('detachUpgrade')
    expect(cjs).type.not.toHaveProperty('writeUnavailable')
    expect(cjs).type.not.toHaveProperty('sendFd')
  })
})

describe('the web app side', () => {
  test('the route option: a target name or the full form', () => {
    const app = Fastify()
    expect<HandoffRouteOption>().type.toBeAssignableFrom('chat')
    expect<HandoffRouteOption>().type.toBeAssignableFrom({ target: 'chat', fallback: 'local' as const, upgradeOnly: true })
    expect<HandoffRouteOption>().type.not.toBeAssignableFrom({ target: 'chat', fallback: 'retry' as const })
    expect<HandoffRouteOption>().type.not.toBeAssignableFrom({ context: () => ({}) })
    app.get('/ws', { handoff: 'chat' }, async () => 'local')
    app.get('/both', { websocket: true, handoff: { target: 'chat' } }, (socket) => { socket.send('x') })
    void websocket
  })

  test('reply.handoff resolves to the result; request.handoffContext is the context', () => {
    expect<FastifyReply['handoff']>().type.toBeCallableWith('chat')
    expect<FastifyReply['handoff']>().type.toBeCallableWith('chat', { user: 'alice' }, { laterRequests: 'sibling' as const })
    expect<FastifyReply['handoff']>().type.not.toBeCallableWith(42)
    expect<FastifyReply['handoff']>().type.not.toBeCallableWith('chat', {}, { fallback: 'local' as const })
    expect<ReturnType<FastifyReply['handoff']>>().type.toBe<Promise<HandoffResult>>()
    expect<FastifyRequest>().type.toHaveProperty('handoffContext')
  })

  test('app.handoff: health, healthy, ready', () => {
    const app = Fastify()
    expect(app.handoff.health()).type.toBe<Record<string, TargetHealth>>()
    expect(app.handoff.healthy('chat')).type.toBe<boolean>()
    expect(app.handoff.ready()).type.toBe<Promise<void>>()
    expect(app.handoff.health).type.not.toBeCallableWith('chat')
  })
})

describe('the sibling side', () => {
  test('handoffReceiver registers with its options; request.handoff is the info', async () => {
    const app = Fastify()
    await app.register(handoffReceiver, { path: '/run/chat.sock', maxConnections: 100 })
    expect(app.register).type.not.toBeCallableWith(handoffReceiver, { path: '/run/chat.sock', server: app.server })
    expect<HandoffReceiverOptions>().type.not.toHaveProperty('server')
    expect<FastifyRequest['handoff']>().type.toBe<HandoffInfo | undefined>()
    expect(handoffInfo).type.toBeCallableWith(app.server as unknown as FastifyRequest)
    expect<HandoffInfo>().type.toHaveProperty('context')
  })
})
