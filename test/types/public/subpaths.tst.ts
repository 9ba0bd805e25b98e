// Type tests (tstyche) of the subpaths of package.json's `exports`, as a user
// imports them by name: each face carries its functions and types, and the
// internals are not there.
import http from 'node:http'
import { expect, test } from 'tstyche'
import { createSender, type Sender, type HandoffResult, type SenderOptions } from 'fastify-handoff/sender'
import { createReceiver, handoffInfo, type Receiver, type HandoffInfo } from 'fastify-handoff/receiver'
import { handoffUpgrades, handoffResponse, type UpgradeDecision } from 'fastify-handoff/http'
import { expressHandoff, type ExpressHandoff } from 'fastify-handoff/express'
import { Channel, listenUnix, connectUnix, type UnixAddress } from 'fastify-handoff/channel'
import * as protocol from 'fastify-handoff/protocol'
import { takeover } from 'fastify-handoff/takeover'
import type { HandoffLogger } from 'fastify-handoff/errors'
import * as senderFace from 'fastify-handoff/sender'
import * as receiverFace from 'fastify-handoff/receiver'

test('fastify-handoff/sender', () => {
  expect(createSender({ targets: { chat: '/run/chat.sock' } })).type.toBe<Sender>()
  expect(createSender).type.not.toBeCallableWith({ targets: { chat: 42 } })
  expect<SenderOptions>().type.toHaveProperty('targets')
  expect(senderFace).type.not.toHaveProperty('Link')
  expect(senderFace).type.not.toHaveProperty('detachUpgrade')
  expect(senderFace).type.not.toHaveProperty('writeUnavailable')
})

test('fastify-handoff/receiver', () => {
  expect(createReceiver({ path: '/run/chat.sock', server: http.createServer() })).type.toBe<Promise<Receiver>>()
  expect(handoffInfo(null)).type.toBe<HandoffInfo | undefined>()
  expect(receiverFace).type.not.toHaveProperty('handoffReceiver')
})

test('fastify-handoff/http', () => {
  const sender = createSender({ targets: { chat: '/run/chat.sock' } })
  const server = http.createServer()
  expect(handoffUpgrades).type.toBeCallableWith(server, { sender, route: (req: http.IncomingMessage): UpgradeDecision => req.url === '/ws' ? { target: 'chat' } : null })
  expect(handoffResponse).type.toBeCallableWith(sender, new http.IncomingMessage(null as never), new http.ServerResponse(null as never), { target: 'chat' })
  expect(handoffResponse).type.not.toBeCallableWith(sender, new http.IncomingMessage(null as never), new http.ServerResponse(null as never), 'chat')
  expect<Awaited<ReturnType<typeof handoffResponse>>>().type.toBe<HandoffResult>()
})

test('fastify-handoff/express', () => {
  expect(expressHandoff({ sender: { targets: { chat: '/run/chat.sock' } } })).type.toBe<ExpressHandoff>()
})

test('fastify-handoff/channel and /protocol', () => {
  expect(listenUnix).type.toBeCallableWith('/run/x.sock')
  expect(connectUnix('/run/x.sock')).type.toBe<Promise<number>>()
  expect<UnixAddress>().type.toBeAssignableFrom({ abstract: 'x' })
  expect(Channel).type.toBeConstructableWith(3, protocol.protocolFramer)
  expect(protocol.encodeReject(1, { reason: 'busy' })).type.toBe<Buffer>()
  expect(protocol).type.not.toHaveProperty('Channel')
})

test('fastify-handoff/takeover: log is a logger of pino\'s shape, or the (level, message) function of 0.1', () => {
  expect(takeover).type.toBeCallableWith({ control: '/run/t.sock', log: {} as HandoffLogger })
  expect(takeover).type.toBeCallableWith({ control: '/run/t.sock', log: (level: 'info' | 'warn', msg: string): void => { void level; void msg } })
  expect(takeover).type.not.toBeCallableWith({ control: '/run/t.sock', log: 42 })
})
