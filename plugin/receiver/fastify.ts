// The sibling side as a Fastify plugin: the receiver's life follows the
// app's. It starts taking handoffs once the app is ready (its routes exist),
// stops taking them when the app starts closing (preClose: senders hear
// "draining" and fall back while the app winds down), and lets go of the
// socket file on onClose. The connections already handed off belong to the
// app: its own close ends them (@fastify/websocket closes its clients in its
// preClose, the HTTP server closes idle ones), as for connections it accepted
// itself. The framework-free createReceiver() stays for node:http and ws.
import type http from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { ERR_HANDOFF_RECEIVER_OPTION } from '../errors.js'
import { checkReceiverOptions, createReceiver, type Receiver, type ReceiverOptions } from './receiver.js'
import { handoffInfo, type HandoffInfo } from './info.js'

/** Everything createReceiver() takes but `server`: the plugin delivers into the app it is registered on. */
export type HandoffReceiverOptions = Omit<ReceiverOptions, 'server'>

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The receiver (stats, drain(), events), from the app's onReady on;
     * null before. Named apart from the web-app plugin's `app.handoff`: one
     * process may register both.
     */
    readonly handoffReceiver: Receiver | null
  }
  interface FastifyRequest {
    /** How this request's connection came here (handoffInfo(request)); undefined when it was accepted locally. */
    readonly handoff: HandoffInfo | undefined
  }
}

const receiverPlugin: FastifyPluginAsync<HandoffReceiverOptions> = async (app, options) => {
  // Fastify adds nothing to the options of a plugin registered without any;
  // a `server` here is a misunderstanding worth saying so.
  if (typeof options === 'object' && options !== null && 'server' in options) {
    throw new ERR_HANDOFF_RECEIVER_OPTION('server', 'the plugin serves handoffs with the app it is registered on; leave "server" out')
  }
  // Bad options fail the registration, so app.ready() rejects before any
  // socket is bound.
  checkReceiverOptions(options)
  const log = options.log ?? options.logger ?? app.log.child({ plugin: 'handoff-receiver' })
  let receiver: Receiver | null = null

  app.decorate('handoffReceiver', { getter: () => receiver })
  app.decorateRequest('handoff', {
    getter (this: FastifyRequest) { return handoffInfo(this) }
  })

  // onReady, not onListen: a sibling usually listens on no port at all.
  // app.server, not the app: createReceiver() would await app.ready(),
  // which is what is running this hook.
  app.addHook('onReady', async function startReceiving () {
    receiver = await createReceiver({ ...options, server: app.server as http.Server, log })
  })
  app.addHook('preClose', function stopTakingHandoffs (done) {
    // Only the GOODBYE "draining" to every sender (a HANDOFF that crossed it
    // gets REJECT "draining" and the sender falls back); drain() would also
    // wait for the live connections, which the app's own close ends.
    if (receiver !== null) void receiver.drain()
    done()
  })
  app.addHook('onClose', async function closeReceiver () {
    if (receiver !== null) await receiver.close()
  })
}

/** `app.register(handoffReceiver, { path, allow, maxConnections, … })`. */
export const handoffReceiver = fp(receiverPlugin, { fastify: '5.x', name: 'fastify-handoff-receiver' })
