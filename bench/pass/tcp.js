'use strict'
// A connected TCP pair on loopback: the descriptor the pass-rate benchmarks pass.
const net = require('node:net')

async function tcpPair () {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise((resolve) => server.once('connection', resolve))
  const client = net.connect(server.address().port, '127.0.0.1')
  await new Promise((resolve) => client.once('connect', resolve))
  const socket = await accepted
  socket.pause()
  return {
    client,
    socket,
    fd: socket._handle.fd,
    close () { client.destroy(); socket.destroy(); server.close() }
  }
}

module.exports = { tcpPair }
