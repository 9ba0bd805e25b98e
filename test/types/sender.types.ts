// Type tests for the framework-free sender and the adapters (see fastify.types.ts).
// Never run: tap leaves *.types.ts out (package.json's tap.exclude).
import http from 'node:http'
import express from 'express'
import { createSender, Sender, type HandoffResult, type SenderOptions, type Verdict } from '../../plugin/sender/index.js'
import { handoffUpgrades, handoffResponse, type UpgradeDecision } from '../../plugin/adapters/http.js'
import { expressHandoff, upgradeOf } from '../../plugin/adapters/express.js'

function typeChecks (): void {
  const options: SenderOptions = { targets: { chat: '/run/chat.sock', abstract: { abstract: 'chat' }, pool: ['/a', '/b'] } }
  const sender: Sender = createSender(options)
  // @ts-expect-error targets is required
  createSender({})

  const server = http.createServer((req, res) => {
    const settled: Promise<HandoffResult> = handoffResponse(sender, req, res, { target: 'chat', context: { a: 1 } })
    void settled
  })
  const upgrades = handoffUpgrades(server, {
    sender,
    route: async (req): Promise<UpgradeDecision> => req.url === '/ws' ? { target: 'chat', context: { user: 'u' } } : req.url === '/no' ? { status: 401 } : null,
    otherwise: (req, socket, head) => { socket.destroy(); void head }
  })
  void upgrades.close()
  // @ts-expect-error route must return a decision
  handoffUpgrades(server, { sender, route: () => 'chat' })

  const app = express()
  const handoff = expressHandoff({ sender: options })
  app.get('/ws', handoff.upgrade('chat', { context: (req) => ({ url: req.url }), fallback: 'local' }), (req, res) => {
    const up = upgradeOf(req)
    if (up !== null) up.socket.destroy()
    res.end()
  })
  app.get('/sse', handoff.response('chat'))
  app.get('/sse-keep', handoff.response('chat', { laterRequests: 'sibling' }))
  // @ts-expect-error laterRequests is 'close' or 'sibling'
  handoff.response('chat', { laterRequests: true })
  handoff.attach(server, app)
  // 'next' is the 0.1 name of 'local'
  handoff.upgrade('chat', { fallback: 'next' })
  // @ts-expect-error fallback is 'unavailable' or 'local'
  handoff.upgrade('chat', { fallback: 'elsewhere' })

  const verdict = null as unknown as Verdict
  if (verdict.outcome === 'rejected') {
    const retry: boolean = verdict.retryable
    void retry
  } else if (verdict.outcome === 'accepted') {
    const live: number = verdict.live
    void live
  }
}
void typeChecks
