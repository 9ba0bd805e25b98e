// `fastify-handoff/http`: the node:http front end, with the sender it needs
// (one import for a node:http web app). No fastify types.
export { handoffUpgrades, handoffResponse, type UpgradeDecision, type UpgradeHandoff, type ResponseHandoffOptions, type UpgradeHandoffOptions as HttpUpgradeHandoffOptions } from '../adapters/http.js'
export { createSender, type Sender, type SenderOptions, type HandoffResult, type HandoffOutcome } from '../sender/handoff.js'
