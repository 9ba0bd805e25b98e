'use strict'
// pm2 runs the web app and the sibling; `pm2 reload ecosystem.config.js`
// restarts both without refusing a connection or closing a WebSocket.
//
//   pm2 start examples/pm2/ecosystem.config.js
//   pm2 reload examples/pm2/ecosystem.config.js     (or: pm2 reload handoff-web, pm2 reload handoff-sibling)
//
// Both run in pm2's cluster mode, because only there does `pm2 reload` start
// the new process before it stops the old one (in fork mode a reload is a
// stop, then a start: a gap). docs/deploy.md, "pm2", says why each option.
const path = require('node:path')
const os = require('node:os')

// The directory of the Unix sockets: the sibling makes it, mode 0700.
const HANDOFF_DIR = process.env.HANDOFF_DIR ?? path.join(os.tmpdir(), 'handoff-pm2')

module.exports = {
  apps: [
    {
      name: 'handoff-sibling',
      script: path.join(__dirname, 'sibling.js'),
      // One process. Cluster mode for the reload order only: the sibling
      // listens on no TCP port (its sockets are not shared through pm2).
      exec_mode: 'cluster',
      instances: 1,
      // pm2 stops the old one once the new one says process.send('ready')...
      wait_ready: true,
      // ...or once this many ms have passed without it: keep it above a start.
      listen_timeout: 15000,
      // The old one gets SIGINT then; it exits once its WebSockets have moved
      // (and what could not move was served until hardStop). SIGKILL after this.
      kill_timeout: 45000,
      env: { HANDOFF_DIR }
    },
    {
      name: 'handoff-web',
      script: path.join(__dirname, 'web.js'),
      // pm2's daemon holds the listening socket and deals connections to the
      // workers: a reload starts new ones before it stops the old ones.
      exec_mode: 'cluster',
      instances: 2,
      wait_ready: true,
      listen_timeout: 15000,
      // The old worker answers what it serves, then exits (SIGKILL after this).
      kill_timeout: 10000,
      env: { HANDOFF_DIR, PORT: process.env.PORT ?? '3000' }
    }
  ]
}
