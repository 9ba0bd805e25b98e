// The limits of PROTOCOL.md ("Limits"), as constants. Every size is in bytes.
// Nothing here does I/O; the values are part of protocol version 1, and codePointLength is how a name is measured against them.

/** Bytes in a frame header. */
export const HEADER_SIZE = 16

/** Default (and recommended) largest frame a peer accepts, header included: 1 MiB. */
export const MAX_FRAME_SIZE = 1024 * 1024
/** The smallest `maxFrameSize` a peer may configure or advertise in its HELLO. */
export const MIN_MAX_FRAME_SIZE = 64 * 1024
/** The largest `maxFrameSize` a peer may configure or advertise (bodyLength is a uint32). */
export const MAX_MAX_FRAME_SIZE = 0xFFFFFFFF

/** HANDOFF: the metadata JSON section. */
export const MAX_META_SIZE = 64 * 1024
/** HANDOFF: the HTTP request head section. */
export const MAX_HEAD_SIZE = 64 * 1024
/** HANDOFF: the section of bytes already read after the head. */
export const MAX_BUFFERED_SIZE = 512 * 1024
/** HANDOFF: the three uint32 section lengths. */
export const HANDOFF_PREFIX_SIZE = 12
/** The largest HANDOFF frame the section limits allow (655,388 bytes); fits in MAX_FRAME_SIZE. */
export const MAX_HANDOFF_FRAME_SIZE =
  HEADER_SIZE + HANDOFF_PREFIX_SIZE + MAX_META_SIZE + MAX_HEAD_SIZE + MAX_BUFFERED_SIZE

/** Body of every frame other than HANDOFF (all of them JSON): 16 KiB. */
export const MAX_CONTROL_BODY_SIZE = 16 * 1024

/** fdCount is one byte; Linux passes at most 253 (SCM_MAX_FD) descriptors in one message. */
export const MAX_FDS_PER_FRAME = 253
/** A HANDOFF carries exactly this many descriptors: the client's socket. */
export const FDS_PER_HANDOFF = 1

/** Reason codes (REJECT, ERROR, GOODBYE): 1 to 64 of [a-z0-9-], starting with a letter. */
export const MAX_REASON_LENGTH = 64
/** HANDOFF metadata: `target`, addresses. */
export const MAX_NAME_LENGTH = 255

/**
 * A string's length as PROTOCOL.md counts it (MAX_NAME_LENGTH): in Unicode
 * code points (what Python's len() and Go's utf8.RuneCountInString say), not
 * in UTF-16 code units (JavaScript's .length counts a character outside the
 * BMP twice).
 */
export function codePointLength (value: string): number {
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xD800 && unit <= 0xDBFF && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xDC00 && next <= 0xDFFF) i++
    }
    n++
  }
  return n
}

/** Recommended: how long a peer waits for the other side's HELLO before ERROR "timeout". */
export const DEFAULT_HELLO_TIMEOUT_MS = 5000
/**
 * Recommended: how long a reader lets a frame take from its first byte to its
 * last before ERROR "timeout" (a frame of at most 1 MiB over a local socket
 * takes microseconds; a peer that stalls mid-frame holds memory and descriptors).
 */
export const DEFAULT_FRAME_TIMEOUT_MS = 5000
/** Recommended: how long a sender waits for ACCEPT/REJECT before giving a handoff up. */
export const DEFAULT_VERDICT_TIMEOUT_MS = 5000

/** Not the protocol's: the longest delay Node's timers honour (2^31 − 1 ms); a longer one fires after 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1
