// `fastify-handoff/express`: the Express front end, with the sender it needs
// (one import for an Express web app). No fastify types.
export {
  expressHandoff, type ExpressHandoff, type ExpressHandoffOptions, type RouteHandoffOptions, type ResponseRouteOptions,
  type UpgradeRouteOptions, type Middleware, type RequestListener, upgradeOf
} from '../adapters/express.js'
export { createSender, type Sender, type SenderOptions, type HandoffResult, type HandoffOutcome } from '../sender/handoff.js'
