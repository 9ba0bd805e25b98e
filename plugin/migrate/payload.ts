// The resume payload: what a WebSocket needs besides its descriptor and its
// unread bytes to go on in another process without a handshake. It travels
// as the `resume` member of a HANDOFF of kind "websocket" (PROTOCOL.md §12);
// the whole metadata is bounded by the HANDOFF's 64 KiB section, so a state
// too large to fit leaves the connection where it is (kept: 'too-large').
import { rejection } from '../receiver/rejection.js'

export const PMD = 'permessage-deflate'

export interface ResumePayload {
  /** The negotiated subprotocol ('' for none). */
  protocol: string
  /** Negotiated extension parameters by extension name (only permessage-deflate is known). */
  extensions: Record<string, Record<string, unknown>>
  /** The client's compression window (last 2^bits inflated bytes), for context takeover. */
  window?: Buffer
  /** The application's state for this connection (JSON). */
  state?: unknown
  /** The Fastify route (its URL pattern) that served the WebSocket, to find its resume hook. */
  route?: string
}

export function encodeResume (p: ResumePayload): Record<string, unknown> {
  const out: Record<string, unknown> = { v: 1, protocol: p.protocol, extensions: p.extensions }
  if (p.window !== undefined) out.window = p.window.toString('base64')
  if (p.state !== undefined) out.state = p.state
  if (p.route !== undefined) out.route = p.route
  return out
}

const PARAM = /^(server|client)_(no_context_takeover|max_window_bits)$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function bad (why: string): never {
  throw rejection('bad-metadata', `resume: ${why}`)
}

/** Checks a received `resume` member; a WebSocket it does not describe exactly is refused before the ACCEPT. */
export function decodeResume (obj: Record<string, unknown>): ResumePayload {
  if (obj.v !== 1) bad('unknown version (expected v: 1)')
  const { protocol, extensions } = obj
  if (typeof protocol !== 'string' || protocol.length > 255) bad('"protocol" must be a string of at most 255 characters')
  if (typeof extensions !== 'object' || extensions === null || Array.isArray(extensions)) bad('"extensions" must be an object')
  const out: ResumePayload = { protocol, extensions: {} }
  for (const [name, params] of Object.entries(extensions as Record<string, unknown>)) {
    // An extension this process does not implement cannot go on: refused, the old sibling keeps it.
    if (name !== PMD) bad(`extension "${name}" is not supported`)
    if (typeof params !== 'object' || params === null || Array.isArray(params)) bad(`"${name}" parameters must be an object`)
    for (const [key, value] of Object.entries(params as Record<string, unknown>)) {
      if (!PARAM.test(key)) bad(`unknown ${name} parameter "${key}"`)
      const ok = key.endsWith('max_window_bits')
        ? value === true || (typeof value === 'number' && Number.isInteger(value) && value >= 8 && value <= 15)
        : value === true
      if (!ok) bad(`bad value for ${name} parameter "${key}"`)
    }
    out.extensions[name] = params as Record<string, unknown>
  }
  if (obj.window !== undefined) {
    if (typeof obj.window !== 'string' || !BASE64.test(obj.window) || obj.window.length > 43692) bad('"window" must be base64 of at most 32 KiB')
    if (out.extensions[PMD] === undefined) bad('"window" without permessage-deflate')
    out.window = Buffer.from(obj.window, 'base64')
  }
  const pmd = out.extensions[PMD]
  if (pmd !== undefined && pmd.client_no_context_takeover !== true && out.window === undefined) {
    // The client's next message may refer to bytes this process never saw:
    // resuming would decode garbage. The old sibling keeps it.
    bad('permessage-deflate with client context takeover and no compression window')
  }
  if (obj.state !== undefined) out.state = obj.state
  if (obj.route !== undefined) {
    if (typeof obj.route !== 'string' || obj.route.length === 0 || obj.route.length > 2048) bad('"route" must be a non-empty string')
    out.route = obj.route
  }
  return out
}
