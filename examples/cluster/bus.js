'use strict'
// The chat's fan-out. A connection lives in one sibling on one host, and a
// descriptor never crosses hosts: what must cross is the message. With
// REDIS_URL, every sibling on every host publishes to and subscribes on one
// Redis channel, so a message reaches every room member wherever its
// connection lives. Without it, an in-process bus: one sibling, one host.
const { EventEmitter } = require('node:events')

const CHANNEL = 'fastify-handoff:cluster:chat'

function createBus (url = process.env.REDIS_URL) {
  if (!url) {
    const local = new EventEmitter()
    return {
      kind: 'in-process (one host: set REDIS_URL to fan out across hosts)',
      ready: Promise.resolve(),
      publish: async (message) => { local.emit('message', message) },
      subscribe: (fn) => { local.on('message', fn) },
      close: async () => { local.removeAllListeners() }
    }
  }
  const Redis = require('ioredis')
  // A connection in subscriber mode can do nothing else: one to publish, one to listen.
  const pub = new Redis(url, { maxRetriesPerRequest: 2 })
  const sub = pub.duplicate()
  const listeners = []
  sub.on('message', (channel, text) => {
    if (channel !== CHANNEL) return
    const message = JSON.parse(text)
    for (const fn of listeners) fn(message)
  })
  return {
    kind: `redis (${url})`,
    // Resolves once Redis confirmed the subscription: nothing published after it is missed.
    ready: sub.subscribe(CHANNEL),
    publish: async (message) => { await pub.publish(CHANNEL, JSON.stringify(message)) },
    subscribe: (fn) => { listeners.push(fn) },
    close: async () => { await Promise.allSettled([pub.quit(), sub.quit()]) }
  }
}

module.exports = { createBus }
