// `fastify-handoff/takeover`: zero-downtime restarts of a web app (or any
// server): a new generation takes the running one's listening sockets over a
// private control socket (docs/zero-downtime.md; PROTOCOL.md, "Listener
// takeover"), else systemd's, else it binds.
export * from '../takeover/index.js'
