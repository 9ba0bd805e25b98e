'use strict'
// Starts the processes of the end-to-end benchmarks (siblings, web apps, the
// load generator), each a process of its own, and reads their CPU time and
// memory over IPC.
const path = require('node:path')
const { Peer, tempDir, fastifyPlugin } = require('./common.js')

async function started (peer, what) {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 30 s`)), 30000)
    peer.onMessage = (m) => { if (m && m.ready) { clearTimeout(timer); resolve(m) } }
    peer.child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${what} exited (${code ?? signal}) while starting`)) })
  })
}

/** A running server process: { peer, info, cpu(), stats(), stop() }. */
function server (peer, info, kind) {
  return {
    peer,
    info,
    pid: peer.pid,
    port: info.port,
    cpu: () => peer.cpu(),
    stats: () => peer.request('stats'),
    stop: () => peer.stop(),
    kind
  }
}

/** A sibling: { app, via: 'receiver' | 'tcp' | ['receiver', 'tcp'], path }. */
async function startSibling (config, peerOpts = {}) {
  const peer = new Peer('e2e/sibling.js', [JSON.stringify(config)], peerOpts)
  try {
    return server(peer, await started(peer, 'sibling'), 'sibling')
  } catch (err) {
    await peer.stop()
    throw err
  }
}

/**
 * A web app: { mode: 'direct' | 'handoff' | 'fastify' | 'childsend' | 'proxy' | 'none', app, path, upstreamPort }.
 * For 'childsend' it forks its own sibling; `.child` reads that one.
 */
async function startWebapp (config, peerOpts = {}) {
  const peer = new Peer('e2e/webapp.js', [JSON.stringify(config)], peerOpts)
  let info
  try {
    info = await started(peer, `web app (${config.mode})`)
  } catch (err) {
    await peer.stop()
    throw err
  }
  const s = server(peer, info, 'webapp')
  if (config.mode === 'childsend') {
    s.child = {
      pid: info.siblingPid,
      cpu: async () => (await peer.request('siblingCpu')).cpu,
      stats: () => peer.request('siblingStats')
    }
  }
  return s
}

async function startClient (peerOpts = {}) {
  const peer = new Peer('e2e/client.js', [], peerOpts)
  try {
    await started(peer, 'client')
  } catch (err) {
    await peer.stop()
    throw err
  }
  return {
    peer,
    pid: peer.pid,
    request: (cmd, args, timeoutMs = 120000) => peer.request(cmd, args, timeoutMs),
    stop: () => peer.stop()
  }
}

/** Stops in order: clients, web apps (senders say GOODBYE), siblings. */
async function stopAll (list) {
  for (const p of list) if (p) await p.stop()
}

/**
 * One route, for the scripts that need a single one (stability, scale):
 * { app, route: 'direct-webapp' | 'direct-sibling' | 'handoff' | 'fastify' | 'childsend' | 'proxy' }.
 */
async function startScenario (scenario, options = {}) {
  const peerOpts = options.fdLimit ? { fdLimit: options.fdLimit } : {}
  const sockPath = path.join(tempDir(), 'sibling.sock')
  let sibling = null
  let webapp = null
  let client = null
  try {
    let via = null
    if (scenario.route === 'handoff' || scenario.route === 'fastify') via = 'receiver'
    if (scenario.route === 'direct-sibling' || scenario.route === 'proxy') via = 'tcp'
    if (via !== null) sibling = await startSibling({ app: scenario.app, via, path: sockPath }, peerOpts)
    if (scenario.route !== 'direct-sibling') {
      const mode = { 'direct-webapp': 'direct', handoff: 'handoff', fastify: 'fastify', childsend: 'childsend', proxy: 'proxy' }[scenario.route]
      webapp = await startWebapp({ mode, app: scenario.app, path: sockPath, upstreamPort: sibling ? sibling.port : undefined }, peerOpts)
      if (scenario.route === 'childsend') sibling = webapp.child
    }
    client = await startClient(peerOpts)
  } catch (err) {
    await stopAll([client, webapp, sibling && sibling.peer ? sibling : null])
    throw err
  }
  const port = webapp ? webapp.port : sibling.port
  return {
    port,
    procs: { webapp, sibling, client },
    async cpu () {
      return { webapp: webapp ? await webapp.cpu() : NaN, sibling: sibling ? await sibling.cpu() : NaN }
    },
    async stats () {
      return { webapp: webapp ? await webapp.stats() : null, sibling: sibling ? await sibling.stats() : null }
    },
    client (cmd, args, timeoutMs = 120000) { return client.request(cmd, args, timeoutMs) },
    stop () { return stopAll([client, webapp, sibling && sibling.peer ? sibling : null]) }
  }
}

/**
 * The connect -> first byte topology (bench/e2e.js, bench/stages.js): one
 * sibling behind a receiver at `sockPath`, web apps direct, handoff (node:http
 * + Sender), fastify (when built) and childsend, and the load generator; every
 * process started is pushed on `procs` (in the order stopAll wants). `extra`
 * goes into every server's config.
 */
async function startUpgradeRoutes (sockPath, procs, extra = {}) {
  const sibling = await startSibling({ app: 'upgrade-hello', via: 'receiver', path: sockPath, ...extra })
  procs.push(sibling)
  const web = async (mode) => { const w = await startWebapp({ mode, app: 'upgrade-hello', path: sockPath, ...extra }); procs.unshift(w); return w }
  const direct = await web('direct')
  const handoff = await web('handoff')
  const fastify = fastifyPlugin() !== null ? await web('fastify') : null
  const child = await web('childsend')
  const client = await startClient()
  procs.unshift(client)
  return { sibling, direct, handoff, fastify, child, client }
}

/** Warms every route up (the load generator's firstByte at 10 concurrent); throws for a route nobody answers. */
async function warmUp (client, routes, count, extra = {}) {
  for (const r of routes) {
    const w = await client.request('firstByte', { port: r.port, concurrency: 10, count, seconds: 3, ...extra })
    if (w.n === 0) throw new Error(`${r.name}: no connection got an answer: ${w.lastError}`)
  }
}

/** The routes in this round's order: rotated by one each round, so no route always runs first. */
function rotated (routes, round) {
  return routes.map((_, i) => routes[(i + round) % routes.length])
}

module.exports = { startSibling, startWebapp, startClient, startScenario, startUpgradeRoutes, stopAll, warmUp, rotated }
