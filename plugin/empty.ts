// The one empty Buffer, for every "no bytes" on a handoff's way (a request's
// buffered bytes, a raw handoff's head, what a stream had not read). In V8
// (Node 20) a zero-length typed array takes the runtime's slow path:
// Buffer.alloc(0), and Buffer.concat of nothing, cost about 200 ns each,
// three times a pooled 158-byte Buffer.allocUnsafe, and a handoff made
// several. Frozen: it has no byte to write, and no property can be hung on it.
export const EMPTY_BUFFER: Buffer = Object.freeze(Buffer.alloc(0)) as Buffer
