'use strict'
// Starts the processes of one end-to-end scenario (web app, sibling, client),
// each a process of its own, and reads their CPU time and memory.
const path = require('node:path')
const { Peer, tempDir } = require('./common.js')

async function started (peer, what) {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 20 s`)), 20000)
    peer.onMessage = (m) => { if (m && m.ready) { clearTimeout(timer); resolve(m) } }
    peer.child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`${what} exited (${code ?? signal}) while starting`)) })
  })
}

/**
 * scenario: { app: 'upgrade-hello' | 'ws-echo', route:
 *   'direct-webapp'  the web app answers itself (no sibling)
 *   'direct-sibling' the client talks to the sibling's own port (no web app)
 *   'handoff'        web app (node:http + Sender) -> sibling (createReceiver)
 *   'fastify'        web app (Fastify + plugin) -> sibling (createReceiver)
 *   'childsend'      web app -> child.send -> forked sibling
 *   'proxy'          web app (Fastify + @fastify/http-proxy) -> sibling's port }
 * options: { fdLimit } for every process.
 */
async function startScenario (scenario, options = {}) {
  const peerOpts = options.fdLimit ? { fdLimit: options.fdLimit } : {}
  const dir = tempDir()
  const sockPath = path.join(dir, 'sibling.sock')
  const procs = { webapp: null, sibling: null, client: null }
  let port
  let siblingVia = null
  try {
    if (scenario.route === 'handoff' || scenario.route === 'fastify') siblingVia = 'receiver'
    if (scenario.route === 'direct-sibling' || scenario.route === 'proxy') siblingVia = 'tcp'
    let siblingInfo = null
    if (siblingVia !== null) {
      procs.sibling = new Peer('e2e/sibling.js', [JSON.stringify({ app: scenario.app, via: siblingVia, path: sockPath })], peerOpts)
      siblingInfo = await started(procs.sibling, 'sibling')
    }
    if (scenario.route !== 'direct-sibling') {
      const mode = { 'direct-webapp': 'direct', handoff: 'handoff', fastify: 'fastify', childsend: 'childsend', proxy: 'proxy' }[scenario.route]
      procs.webapp = new Peer('e2e/webapp.js', [JSON.stringify({
        mode, app: scenario.app, path: sockPath, upstreamPort: siblingInfo ? siblingInfo.port : undefined
      })], peerOpts)
      const info = await started(procs.webapp, 'web app')
      port = info.port
      if (scenario.route === 'childsend') procs.siblingPid = info.siblingPid
    } else {
      port = siblingInfo.port
    }
    procs.client = new Peer('e2e/client.js', [], peerOpts)
    await started(procs.client, 'client')
  } catch (err) {
    await stopAll(procs)
    throw err
  }

  return {
    port,
    procs,
    /** CPU µs so far of { webapp, sibling } (NaN where there is none). */
    async cpu () {
      const webapp = procs.webapp ? await procs.webapp.cpu() : NaN
      let sibling = NaN
      if (procs.sibling) sibling = await procs.sibling.cpu()
      else if (scenario.route === 'childsend') sibling = (await procs.webapp.request('siblingCpu')).cpu
      return { webapp, sibling }
    },
    /** { rss, fds, ... } of each server process. */
    async stats () {
      const webapp = procs.webapp ? await procs.webapp.request('stats') : null
      let sibling = null
      if (procs.sibling) sibling = await procs.sibling.request('stats')
      else if (scenario.route === 'childsend') sibling = await procs.webapp.request('siblingStats')
      return { webapp, sibling }
    },
    client (cmd, args, timeoutMs = 120000) { return procs.client.request(cmd, args, timeoutMs) },
    stop () { return stopAll(procs) }
  }
}

/** Client first, then the web app (the sender says GOODBYE), then the sibling. */
async function stopAll (procs) {
  for (const p of [procs.client, procs.webapp, procs.sibling]) if (p) await p.stop()
}

module.exports = { startScenario }
