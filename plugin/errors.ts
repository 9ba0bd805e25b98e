// Every error fastify-handoff throws, emits or passes to a callback has a
// stable `code`. System errors keep Node's shape ({ code, errno, syscall });
// the rest are @fastify/error codes, one module for all of them (docs/errors.md
// says what each means, who raises it and what the caller does). Branch on
// `instanceof ERR_HANDOFF_…` or on a typed field (`reason`), never on the
// code string. This module imports nothing but @fastify/error: the pure codec
// (plugin/protocol/) loads it without the addon and without fastify.
import createError from '@fastify/error'

/** The last argument of a constructor that wraps another error. */
export interface Cause { cause: unknown }

export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
}

export function isSystemError (err: unknown): err is SystemError {
  return err instanceof Error && typeof (err as SystemError).syscall === 'string' &&
    typeof (err as SystemError).code === 'string'
}

// Loading
export const ERR_HANDOFF_UNSUPPORTED_PLATFORM = createError<[string]>(
  'ERR_HANDOFF_UNSUPPORTED_PLATFORM',
  'fastify-handoff passes descriptors with SCM_RIGHTS, which %s does not offer; it runs on Linux and macOS')
export const ERR_HANDOFF_NATIVE_LOAD = createError<[string, Cause?]>(
  'ERR_HANDOFF_NATIVE_LOAD', 'the fastify-handoff native addon could not be loaded: %s')
export const ERR_HANDOFF_NODE_INTERNAL = createError<[string, string]>(
  'ERR_HANDOFF_NODE_INTERNAL',
  'fastify-handoff needs %s, which this Node (%s) does not have; supported: Node 20, 22 and 24 (docs/ARCHITECTURE.md, "Node internals")')

// Channel: descriptors that do not match their frame
export const ERR_HANDOFF_FD_MISMATCH = createError<[number, number]>(
  'ERR_HANDOFF_FD_MISMATCH', 'frame declared %d descriptor(s) but %d arrived with it; they were closed')
export const ERR_HANDOFF_FDS_TRUNCATED = createError(
  'ERR_HANDOFF_FDS_TRUNCATED',
  'descriptors were truncated in transit (MSG_CTRUNC, usually the fd limit); those that arrived were closed')
export const ERR_HANDOFF_ORPHAN_FDS = createError<[number]>(
  'ERR_HANDOFF_ORPHAN_FDS', '%d descriptor(s) arrived that belong to no frame; they were closed')
export const ERR_HANDOFF_CHANNEL_CLOSED = createError(
  'ERR_HANDOFF_CHANNEL_CLOSED', 'the channel is closed')
export const ERR_HANDOFF_CHANNEL_ENDED = createError(
  'ERR_HANDOFF_CHANNEL_ENDED', 'the peer closed the channel in the middle of a frame')
export const ERR_HANDOFF_FRAME_TIMEOUT = createError<[number]>(
  'ERR_HANDOFF_FRAME_TIMEOUT', 'the peer began a frame and did not complete it within %d ms')

// Protocol (PROTOCOL.md). One code for every violation; what was broken is
// data on the error: `reason` (the REJECT or ERROR reason that answers it),
// `fatal` and `id` (plugin/protocol/errors.ts builds them).
export const ERR_HANDOFF_PROTOCOL = createError<[string, Cause?]>('ERR_HANDOFF_PROTOCOL', '%s')
// An encoder was given something the protocol cannot carry: a caller's bug, nothing was sent.
export const ERR_HANDOFF_INVALID_ARG = createError<[string, Cause?]>('ERR_HANDOFF_INVALID_ARG', '%s', 500, TypeError)

// Unix sockets
export const ERR_HANDOFF_PATH_IN_USE = createError<[string]>(
  'ERR_HANDOFF_PATH_IN_USE', 'a live process is listening on %s; refusing to take it over')
export const ERR_HANDOFF_UNSAFE_DIRECTORY = createError<[string, string]>(
  'ERR_HANDOFF_UNSAFE_DIRECTORY',
  'refusing to listen on %s: %s, so another user could move, replace or impersonate the socket; ' +
  'use a directory only this user (or root) can write (e.g. systemd RuntimeDirectory=, mode 0700), ' +
  'or pass sharedDirectory: \'warn\' to accept the risk')

// Receiver
export const ERR_HANDOFF_RECEIVER_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_RECEIVER_OPTION', 'invalid receiver option "%s": %s', 500, TypeError)
// A connecting process whose credentials the allowlist does not name (the
// receiver's side of ERR_HANDOFF_UNTRUSTED_RECEIVER). Was ERR_HANDOFF_UNTRUSTED_SENDER.
export const ERR_HANDOFF_UNTRUSTED_SENDER = createError<[number, number, number]>(
  'ERR_HANDOFF_UNTRUSTED_SENDER', 'a sender with uid %d gid %d (pid %d) connected, which the receiver\'s allowlist does not name; its channel was closed unread')
// A handoff this receiver rejects (plugin/receiver/rejection.ts adds `reason`
// and `retryable`); its message goes in the REJECT frame.
export const ERR_HANDOFF_REJECTION = createError<[string, Cause?]>('ERR_HANDOFF_REJECTION', '%s')
// Either side: the peer ('sender' or 'receiver') sent ERROR and closes the channel.
export const ERR_HANDOFF_PEER_ERROR = createError<[string, string, string]>(
  'ERR_HANDOFF_PEER_ERROR', 'the %s ended the channel with ERROR %s: %s')
// Either side: the peer closed the channel (end of stream, no ERROR).
export const ERR_HANDOFF_PEER_CLOSED = createError<[string]>(
  'ERR_HANDOFF_PEER_CLOSED', 'the %s closed the channel')
export const ERR_HANDOFF_HELLO_TIMEOUT = createError<[number]>(
  'ERR_HANDOFF_HELLO_TIMEOUT', 'no HELLO from the peer within %d ms')
export const ERR_HANDOFF_UNCOUNTED = createError(
  'ERR_HANDOFF_UNCOUNTED',
  'cannot tell the later requests of a kept-alive handed-off connection from the handed-off one (node:http internals not as expected): the connection was closed')

// Sender / plugin
export const ERR_HANDOFF_TLS = createError(
  'ERR_HANDOFF_TLS',
  'a TLS connection cannot be handed off: its session state lives in this process; terminate TLS in front of the app', 500)
export const ERR_HANDOFF_HTTP2 = createError(
  'ERR_HANDOFF_HTTP2', 'an HTTP/2 stream cannot be handed off: its connection carries other streams', 500)
export const ERR_HANDOFF_NOT_UPGRADE = createError<[string, string]>(
  'ERR_HANDOFF_NOT_UPGRADE', 'the handoff route %s %s must be a GET route for WebSocket upgrades', 500, TypeError)
export const ERR_HANDOFF_NOT_TCP = createError<[string]>(
  'ERR_HANDOFF_NOT_TCP', 'only a TCP connection can be handed off, not %s', 500)
export const ERR_HANDOFF_SOCKET_GONE = createError<[Cause?]>(
  'ERR_HANDOFF_SOCKET_GONE', 'the client connection is already closed')
export const ERR_HANDOFF_RESPONSE_STARTED = createError(
  'ERR_HANDOFF_RESPONSE_STARTED', 'the response has already started: a connection is handed off before anything is written to it', 500)
export const ERR_HANDOFF_REQUEST_BODY = createError(
  'ERR_HANDOFF_REQUEST_BODY', 'a request with a body cannot be handed off with reply.handoff (the body may already be consumed)', 500)
export const ERR_HANDOFF_PIPELINED = createError<[string]>(
  'ERR_HANDOFF_PIPELINED', 'the connection cannot be handed off: %s', 500)
export const ERR_HANDOFF_TOO_LARGE = createError<[string, Cause?]>(
  'ERR_HANDOFF_TOO_LARGE', 'the connection cannot be handed off: %s', 500)
export const ERR_HANDOFF_UNKNOWN_TARGET = createError<[string]>(
  'ERR_HANDOFF_UNKNOWN_TARGET', 'no handoff target named "%s" is registered', 500)
export const ERR_HANDOFF_SENDER_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_SENDER_OPTION', 'invalid handoff option "%s": %s', 500, TypeError)
export const ERR_HANDOFF_SENDER_CLOSED = createError(
  'ERR_HANDOFF_SENDER_CLOSED', 'the handoff sender is closed', 503)
export const ERR_HANDOFF_UNAVAILABLE = createError<[string, string]>(
  'ERR_HANDOFF_UNAVAILABLE', 'target "%s" has no receiver ready: %s', 503)
export const ERR_HANDOFF_REJECTED = createError<[string, string, string]>(
  'ERR_HANDOFF_REJECTED', 'the receiver on %s rejected the handoff (%s): %s', 503)
export const ERR_HANDOFF_VERDICT_TIMEOUT = createError<[string, number]>(
  'ERR_HANDOFF_VERDICT_TIMEOUT', 'no verdict from the receiver on %s within %d ms (deadline + grace)', 503)
export const ERR_HANDOFF_UNTRUSTED_RECEIVER = createError<[string, number, number, number, string]>(
  'ERR_HANDOFF_UNTRUSTED_RECEIVER',
  'the receiver on %s runs as uid %d gid %d (pid %d), which this target does not allow (%s); its connection was closed before anything was sent',
  503)
export const ERR_HANDOFF_RECEIVER_LOST = createError<[string, string]>(
  'ERR_HANDOFF_RECEIVER_LOST', 'the channel to the receiver on %s ended before its verdict: %s', 503)
export const ERR_HANDOFF_RECEIVER_UNRESPONSIVE = createError<[string]>(
  'ERR_HANDOFF_RECEIVER_UNRESPONSIVE',
  'the receiver on %s gave no verdict by a handoff\'s deadline + grace; no new handoffs go to it until it writes again')
export const ERR_HANDOFF_RECEIVER_DRAINING = createError<[string]>(
  'ERR_HANDOFF_RECEIVER_DRAINING', 'the receiver on %s said GOODBYE: it takes no new handoffs')
export const ERR_HANDOFF_LATE_ACCEPT = createError<[string, number]>(
  'ERR_HANDOFF_LATE_ACCEPT',
  'the receiver on %s accepted handoff %d after its deadline (a protocol violation): the sender had already answered the client', 500)
export const ERR_HANDOFF_UPGRADE_REQUIRED = createError<[string, string]>(
  'ERR_HANDOFF_UPGRADE_REQUIRED', 'the route %s %s hands off WebSocket upgrades only, and this request is not one', 426)
export const ERR_HANDOFF_IN_PROGRESS = createError(
  'ERR_HANDOFF_IN_PROGRESS', 'this connection is already being handed off', 500)

// Listener takeover (plugin/takeover/)
export const ERR_HANDOFF_TAKEOVER_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_TAKEOVER_OPTION', 'invalid takeover option "%s": %s', 500, TypeError)
export const ERR_HANDOFF_TAKEOVER_REFUSED = createError<[string, string]>(
  'ERR_HANDOFF_TAKEOVER_REFUSED', 'the running generation refused to hand over its listeners (%s): %s')
export const ERR_HANDOFF_TAKEOVER_BUSY = createError<[number]>(
  'ERR_HANDOFF_TAKEOVER_BUSY',
  'another takeover of the listeners is in progress and did not finish within %d ms; try again once it has')
export const ERR_HANDOFF_TAKEOVER_ABORTED = createError<[string]>(
  'ERR_HANDOFF_TAKEOVER_ABORTED', 'the takeover was called off; the running generation keeps its listeners: %s')
export const ERR_HANDOFF_TAKEOVER_UNTRUSTED = createError<[string, number, number, number]>(
  'ERR_HANDOFF_TAKEOVER_UNTRUSTED',
  'the process on the takeover socket %s runs as uid %d gid %d (pid %d), which is not allowed; nothing was taken or offered')
export const ERR_HANDOFF_TAKEOVER_PROTOCOL = createError<[string]>(
  'ERR_HANDOFF_TAKEOVER_PROTOCOL', 'takeover control channel: %s')

// Live migration of WebSockets between siblings (plugin/migrate/)
export const ERR_HANDOFF_WS_UNSUPPORTED = createError<[string]>(
  'ERR_HANDOFF_WS_UNSUPPORTED', 'live WebSocket migration cannot use this ws: %s')
export const ERR_HANDOFF_MIGRATE_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_MIGRATE_OPTION', 'invalid migration option "%s": %s', 500, TypeError)
export const ERR_HANDOFF_MIGRATE_BUSY = createError(
  'ERR_HANDOFF_MIGRATE_BUSY', 'a migration is already running in this process')
// Status queries (the command-line tool, PROTOCOL.md §13)
export const ERR_HANDOFF_CLI_USAGE = createError<[string]>(
  'ERR_HANDOFF_CLI_USAGE', '%s (fastify-handoff --help for usage)', 500, TypeError)
export const ERR_HANDOFF_STATUS_NO_SOCKET = createError<[string]>(
  'ERR_HANDOFF_STATUS_NO_SOCKET', 'no such socket: %s does not exist (ENOENT); is the receiver running, and is this its path?')
export const ERR_HANDOFF_STATUS_NOT_LISTENING = createError<[string, string]>(
  'ERR_HANDOFF_STATUS_NOT_LISTENING',
  'nothing listens at %s (%s): a stale socket file left by a receiver that is no longer running, or not a socket')
export const ERR_HANDOFF_STATUS_DENIED = createError<[string, string]>(
  'ERR_HANDOFF_STATUS_DENIED',
  'permission denied: this process may not connect to %s (%s); run as the receiver\'s user, or one with access to the socket and its directory')
export const ERR_HANDOFF_STATUS_UNTRUSTED = createError<[string, number, number]>(
  'ERR_HANDOFF_STATUS_UNTRUSTED',
  'permission denied: the receiver at %s does not trust this process (uid %d, gid %d; its kernel credentials): only the uids and gids in its "allow" option may ask for its status')
export const ERR_HANDOFF_STATUS_NOT_RECEIVER = createError<[string, string]>(
  'ERR_HANDOFF_STATUS_NOT_RECEIVER', '%s is not a fastify-handoff receiver: %s')
export const ERR_HANDOFF_STATUS_UNSUPPORTED = createError<[string, string]>(
  'ERR_HANDOFF_STATUS_UNSUPPORTED',
  'the fastify-handoff receiver at %s does not answer status requests (%s): it runs a version older than this tool')
// Metrics (docs/metrics.md)
export const ERR_HANDOFF_METRICS_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_METRICS_OPTION', 'invalid metrics option "%s": %s', 500, TypeError)
