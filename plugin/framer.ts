// The one thing the channel needs to know about a wire format: how to cut the
// byte stream into frames. The protocol (protocol/frame.ts) and the Go design's
// format (seed/) each provide one; the channel imports neither.

/** How to cut a channel's byte stream into frames (docs/ARCHITECTURE.md). */
export interface Framer {
  /** Bytes needed before `parse` can tell the frame's size. */
  headerSize: number
  /** A frame declaring more than this is fatal for the peer. */
  maxFrameSize: number
  /** Throws (fatal for the peer) on a header that cannot be trusted. */
  parse (header: Buffer): { frameSize: number, fdCount: number }
}
