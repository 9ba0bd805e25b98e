'use strict'
// Receiver side of the child.send(msg, socket) benchmark: a forked child that
// gets each socket from Node's IPC, destroys it and acknowledges.
const { serveControl } = require('../lib/common.js')

process.on('message', (msg, socket) => {
  if (msg === null || typeof msg !== 'object' || msg.pass === undefined) return
  if (socket) socket.destroy()
  process.send({ ack: msg.pass })
})
serveControl()
process.send({ ready: true })
