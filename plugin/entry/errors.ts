// `fastify-handoff/errors`: every error code the package throws, emits or
// passes to a callback, as @fastify/error constructors (branch with
// `err instanceof ERR_HANDOFF_…`, never on the code string; docs/errors.md),
// and the one logger type every face takes.
export * from '../errors.js'
export type { HandoffLogger } from '../logger.js'
