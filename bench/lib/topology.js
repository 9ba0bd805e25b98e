'use strict'
// Starts the processes of the end-to-end benchmarks (siblings, web apps, the
// load generator), each a process of its own, and reads their CPU time and
// memory over IPC.
const path = require('node:path')
const { Peer, tempDir } = require('./common.js')

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

module.exports = { startSibling, startWebapp, startClient, startScenario, stopAll }
