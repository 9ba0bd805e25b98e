'use strict'
// The sibling: an ordinary Fastify + @fastify/websocket app. It listens on no
// TCP port; createReceiver() feeds it the connections the web app hands off,
// as if it had accepted them itself.
//
//   node examples/websocket-fastify/sibling.js /path/to/echo.sock
const Fastify = require('fastify')
const { createReceiver, handoffInfo } = require('../../dist/index.js')

async function main (socketPath) {
  const app = Fastify()
  await app.register(require('@fastify/websocket'))
  app.get('/echo', { websocket: true }, (socket, request) => {
    // What the web app attached: the user its hook authenticated.
    const { context } = handoffInfo(request) ?? {}
    socket.send(JSON.stringify({ hello: context?.user ?? 'stranger', pid: process.pid }))
    socket.on('message', (data) => socket.send(JSON.stringify({ echo: data.toString(), pid: process.pid })))
  })

  const receiver = await createReceiver({ path: socketPath, server: app })
  console.log(`[sibling ${process.pid}] serving /echo for handoffs on ${socketPath}`)

  let stopping = null
  const stop = () => {
    stopping ??= (async () => {
      await receiver.close() // stops taking handoffs, removes the socket file
      for (const ws of app.websocketServer.clients) ws.close(1001, 'sibling stopping')
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
