// The Go design's wire format (one byte + one descriptor a message) on top of
// the Channel. See examples/seed-demo for the three programs of that design.
export { SEED_BYTE, seedFramer, createSeedChannel, sendFd } from './format.js'
export { FdReceiver, type FdReceiverOptions } from './receiver.js'
