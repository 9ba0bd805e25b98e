// Live migration of established WebSockets between sibling versions (issue 14).
export { Migration, wsMigration, type MigrationOptions, type MigrationEvents, type CompressionMode } from './migration.js'
export type { MigrationReport, MoveOptions, StateOf } from './move.js'
export type { KeptReason } from './cut.js'
export type { ResumeHook, ResumeInfo } from './adopt.js'
export { handoffMigration, type HandoffMigrationOptions } from './fastify.js'
export { RawMover, rawMover, type HandOnOptions } from './raw.js'
export { startSibling, Sibling, type SiblingOptions, type SiblingEvents } from './sibling.js'
// The process's deploy figures (takeovers, connections moved / kept / closed): docs/metrics.md.
export { deployStats, type DeployStats } from '../metrics/deploy.js'
