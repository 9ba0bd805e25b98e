'use strict'
// The sibling: an ordinary Fastify + @fastify/websocket app. It listens on no
// TCP port; the handoffReceiver plugin feeds it the connections the web app
// hands off, as if it had accepted them itself.
//
//   node examples/websocket-fastify/sibling.js /path/to/echo.sock
const Fastify = require('fastify')
const { handoffReceiver } = require('fastify-handoff')

async function main (socketPath) {
  const app = Fastify()
  // Registered first, so that on app.close() it stops taking handoffs
  // (preClose) before @fastify/websocket closes its clients.
  await app.register(handoffReceiver, { path: socketPath })
  await app.register(require('@fastify/websocket'), {
    // Its default closes the clients without a code; say "going away".
    preClose (done) {
      for (const ws of this.websocketServer.clients) ws.close(1001, 'sibling stopping')
      done()
    }
  })
  app.get('/echo', { websocket: true }, (socket, request) => {
    // What the web app attached: the user its hook authenticated.
    const { context } = request.handoff ?? {}
    socket.send(JSON.stringify({ hello: context?.user ?? 'stranger', pid: process.pid }))
    socket.on('message', (data) => socket.send(JSON.stringify({ echo: data.toString(), pid: process.pid })))
  })

  await app.ready() // the receiver listens from here on
  console.log(`[sibling ${process.pid}] serving /echo for handoffs on ${socketPath}`)

  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      // Stops taking handoffs, closes the WebSockets, removes the socket file.
      await app.close()
      if (process.connected) process.disconnect()
    })()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('disconnect', stop) // started by web.js, which went away
  if (process.send) process.send('ready')
}

main(process.argv[2]).catch((err) => {
  console.error(err)
  process.exit(1)
})
