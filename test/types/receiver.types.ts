// Type tests for the receiver's Fastify plugin (handoffReceiver): its options
// and its decorators, compiled by types.test.ts (`tsc --noEmit -p test/types`).
// Never run.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { handoffReceiver } from '../../plugin/receiver/fastify.js'
import type { HandoffInfo, Receiver, ReceiverStats } from '../../plugin/receiver/index.js'
import { Registry } from 'prom-client'

async function main (): Promise<void> {
  const app = Fastify()
  await app.register(handoffReceiver, { path: '/run/chat.sock', allow: { uids: [1000] }, maxConnections: 100, targets: ['chat'], name: 'chat' })
  // @ts-expect-error the app is the server: no `server` option
  await app.register(handoffReceiver, { path: '/run/chat.sock', server: app.server })
  // @ts-expect-error maxConnections is a number
  await app.register(handoffReceiver, { path: '/run/chat.sock', maxConnections: 'many' })
  await app.register(websocket)
  app.get('/chat', { websocket: true }, (socket, request) => {
    const info: HandoffInfo | undefined = request.handoff
    socket.send(JSON.stringify(info?.context ?? null))
  })
  app.get('/events', async (request) => {
    // @ts-expect-error it may be undefined (a request accepted locally)
    const info: HandoffInfo = request.handoff
    return info.requestNumber
  })
  await app.ready()
  const receiver: Receiver | null = app.handoffReceiver
  const stats: ReceiverStats | undefined = receiver?.stats
  const byReason: Record<string, number> | undefined = stats?.rejectedBy
  void byReason
  await app.register(handoffReceiver, { path: '/run/chat.sock', metrics: { registry: new Registry() } })
  // @ts-expect-error the registry goes in { registry }
  await app.register(handoffReceiver, { path: '/run/chat.sock', metrics: new Registry() })
  // @ts-expect-error read-only: the plugin owns it
  app.handoffReceiver = null
}

void main
