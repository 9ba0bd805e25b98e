// `fastify-handoff/protocol`: PROTOCOL.md as a pure codec (frames, messages,
// limits, their errors). No I/O and no native addon: it loads where the
// addon cannot (another platform, a build without a compiler), for tools and
// peers that only encode and decode.
export * from '../protocol/index.js'
