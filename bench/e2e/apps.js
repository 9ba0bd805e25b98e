'use strict'
// The server-side applications of the end-to-end benchmarks, the same code
// wherever they run (the web app answering itself, or a sibling serving a
// connection handed to it):
//   upgrade-hello: an HTTP server whose 'upgrade' handler answers
//                  "101 ... hello" and ends the connection (connect -> first byte)
//   ws-echo:       Fastify + @fastify/websocket, GET /echo echoes every message
//   ws-hello:      Fastify + @fastify/websocket, GET /first sends "hello" as its
//                  first message and closes (connect -> first WebSocket message,
//                  the stack users run on both sides)
const http = require('node:http')

const HELLO = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: bench\r\nConnection: Upgrade\r\n\r\nhello')
const noop = () => {}

/**
 * Returns { server (node:http), fastify? , close() }. `mark` (bench/stages.js'
 * recorder): when the handler ran, and when its first byte was written.
 */
async function buildApp (name, { mark = null } = {}) {
  if (name === 'upgrade-hello') {
    const server = http.createServer((req, res) => res.end('hello'))
    server.on('upgrade', mark === null
      ? (req, socket) => {
          socket.on('error', noop)
          socket.end(HELLO)
        }
      : (req, socket) => {
          mark('handler', socket)
          socket.on('error', noop)
          socket.end(HELLO)
          mark('first-byte', socket)
        })
    server.on('clientError', (err, socket) => { void err; socket.destroy() })
    return { server, target: server, close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()) }) }
  }
  if (name === 'ws-echo') {
    const Fastify = require('fastify')
    const app = Fastify({ logger: false })
    await app.register(require('@fastify/websocket'), { options: { perMessageDeflate: false, maxPayload: 1 << 20 } })
    app.register(async (app) => {
      app.get('/echo', { websocket: true }, (socket) => {
        socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
        socket.on('error', noop)
      })
    })
    await app.ready()
    return { server: app.server, target: app, fastify: app, close: () => app.close() }
  }
  if (name === 'ws-hello') {
    const Fastify = require('fastify')
    const app = Fastify({ logger: false })
    await app.register(require('@fastify/websocket'), { options: { perMessageDeflate: false } })
    app.register(async (app) => {
      app.get('/first', { websocket: true }, (socket, req) => {
        if (mark !== null) mark('handler', req.raw.socket)
        socket.on('error', noop)
        socket.send('hello')
        if (mark !== null) mark('first-byte', req.raw.socket)
        socket.close(1000)
      })
    })
    await app.ready()
    return { server: app.server, target: app, fastify: app, close: () => app.close() }
  }
  throw new Error(`unknown app ${name}`)
}

/** The request head of an upgrade, as a client sent it (for child.send, which has to replay it). */
function rawHead (req) {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`
  const h = req.rawHeaders
  for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`
  return head + '\r\n'
}

module.exports = { buildApp, rawHead, HELLO }
