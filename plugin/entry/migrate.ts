// `fastify-handoff/migrate`: live migration of established WebSockets to a
// new sibling version (issue 14, docs/receiver.md "Deploying a new sibling"):
// wsMigration for a ws WebSocketServer, the handoffMigration Fastify plugin,
// startSibling (the deploy on the takeover primitive), rawMover. ws itself is
// loaded only when a migration is created.
export * from '../migrate/index.js'
