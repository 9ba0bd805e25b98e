// Every error fastify-handoff raises has a stable `code`. System errors keep
// Node's shape ({ code, errno, syscall }); the rest are @fastify/error codes.
import createError from '@fastify/error'

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
export const ERR_HANDOFF_NATIVE_LOAD = createError<[string]>(
  'ERR_HANDOFF_NATIVE_LOAD', 'the fastify-handoff native addon could not be loaded: %s')

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

// Unix sockets
export const ERR_HANDOFF_PATH_IN_USE = createError<[string]>(
  'ERR_HANDOFF_PATH_IN_USE', 'a live process is listening on %s; refusing to take it over')

// Receiver
export const ERR_HANDOFF_RECEIVER_OPTION = createError<[string, string]>(
  'ERR_HANDOFF_RECEIVER_OPTION', 'invalid receiver option "%s": %s', 500, TypeError)
export const ERR_HANDOFF_PEER_REFUSED = createError<[number, number, number]>(
  'ERR_HANDOFF_PEER_REFUSED', 'refused a sender with uid %d gid %d (pid %d): not in the receiver\'s allowlist')
export const ERR_HANDOFF_PEER_ERROR = createError<[string, string]>(
  'ERR_HANDOFF_PEER_ERROR', 'the sender ended the channel with ERROR %s: %s')
export const ERR_HANDOFF_HELLO_TIMEOUT = createError<[number]>(
  'ERR_HANDOFF_HELLO_TIMEOUT', 'no HELLO from the peer within %d ms')
