// The stages one handoff passes through, published on a diagnostics channel
// so that a benchmark (bench/stages.js) can timestamp each of them in both
// processes. Nothing is built or published unless someone subscribed: every
// publish point is guarded by `stageChannel.hasSubscribers`, a field read.
import diagnostics from 'node:diagnostics_channel'

/** The channel's name; subscribe with `diagnostics_channel.subscribe(STAGE_CHANNEL, fn)`. */
export const STAGE_CHANNEL = 'fastify-handoff:stage'

/**
 * In the order a handoff meets them. Web app: `start` (the Sender got the
 * connection: after the app's hooks), `detached`, `encoded` (the HANDOFF
 * frame built), `sent` (the frame and descriptor in the kernel), `verdict`
 * (the ACCEPT read), `released` (our copy closed). Sibling: `woken` (the
 * channel's poll event, before any frame is cut: carries no port), `decoded`,
 * `rebuilt` (the net.Socket on the descriptor), `checked` (every check before
 * the ACCEPT passed), `answered` (the ACCEPT in the kernel; the consumer gets
 * the socket right after).
 * Live migration (plugin/migrate/), old sibling: `cut-start` (a connection's
 * turn came: reading stops), `cut` (at a frame boundary, ready to send), then
 * the sender's `encoded` and `sent`, `verdict` and `released`; new sibling:
 * the receiver's stages, then `resumed` (the app's resume hook returned).
 */
export type StageName =
  | 'start' | 'detached' | 'encoded' | 'sent' | 'verdict' | 'released'
  | 'woken' | 'decoded' | 'rebuilt' | 'checked' | 'answered'
  | 'cut-start' | 'cut' | 'resumed'

/** What is published: the stage and the client's port (the key a benchmark joins the processes' records on). */
export interface StageEvent {
  stage: StageName
  /** The client's TCP port (remotePort as the servers see it); absent for `woken`. */
  port?: number | undefined
}

export const stageChannel = diagnostics.channel(STAGE_CHANNEL)
