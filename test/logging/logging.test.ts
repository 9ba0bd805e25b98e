// Logging (plugin/logger.ts): a handoff failure is one line through the
// logger the app passed, with the reason and the connection; a success logs
// nothing at info; with no logger the package prints nothing at all, unless
// NODE_DEBUG=handoff asks for its lines.
import t from 'tap'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import {
  FIXTURES, captureLogger, offerRaw, rawClient, startSibling, stopChild, tmpDir, upgradeApp, upgradeRequest,
  parseResponse, type Message
} from '../sender/helpers.js'

const AT_INFO_OR_ABOVE = new Set(['info', 'warn', 'error', 'fatal'])

t.test('a failed handoff: one line through the passed logger, with the reason and the connection', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const log = captureLogger()
  const app = await upgradeApp(t, { targets: { chat: { path: path.join(dir, 'nobody.sock'), connectWait: 50 } }, log: log.logger }, 'chat')
  const client = rawClient(app.port)
  await client.connected
  const clientPort = client.socket.localPort
  client.socket.write(upgradeRequest('/ws', app.port).text)
  t.equal(parseResponse(await client.ended)?.status, 503, 'the client got the fallback')
  const [result] = await app.settled(1)
  t.equal(result.outcome, 'unavailable')
  const about = (l: Message): boolean => l.client === `127.0.0.1:${String(clientPort)}`
  const lines = log.lines.filter(about)
  t.equal(lines.length, 1, 'one line for the failure', { lines })
  t.match(lines[0], {
    level: 'warn',
    outcome: 'unavailable',
    target: 'chat',
    err: { code: 'ERR_HANDOFF_UNAVAILABLE' }
  }, 'its reason (outcome and typed error) and where it was going')
  client.socket.destroy()
  await client.closed
})

t.test('a successful handoff logs nothing at info; its detail is at debug, with the handoff id', async (t) => {
  checkFdLeaks(t)
  const dir = tmpDir(t)
  const sockPath = path.join(dir, 'chat.sock')
  const sibling = await startSibling(t, { path: sockPath }, 'raw')
  const log = captureLogger()
  const app = await upgradeApp(t, { targets: { chat: { path: sockPath } }, log: log.logger }, 'chat')
  await app.sender.ready('chat')
  const before = log.lines.length
  const answer = await offerRaw(app.port, '/raw')
  t.equal(answer.status, 200, 'the sibling served it')
  const [result] = await app.settled(1)
  t.equal(result.handedOff, true)
  const during = log.lines.slice(before)
  t.same(during.filter((l) => AT_INFO_OR_ABOVE.has(String(l.level))), [], 'nothing at info or above')
  t.match(during.filter((l) => l.level === 'debug'), [{ msg: 'connection handed off', target: 'chat', handoffId: result.handoffId }],
    'one debug line, naming the handoff the receiver saw')
  t.equal(typeof result.handoffId, 'number')
  // The link's own lines carry the target and receiver through a child logger's bindings.
  t.match(log.lines.find((l) => l.msg === 'handoff receiver connected'), { target: 'chat', receiver: sockPath })
  await stopChild(t, sibling)
})

function runQuiet (env: NodeJS.ProcessEnv): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const dir = tmpDir(t)
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(FIXTURES, 'logging-quiet.js'), JSON.stringify({ dir })], { env, timeout: 60000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout, stderr }))
  })
}

t.test('no logger: a failing sender and receiver print nothing at all (no console, no stderr)', async (t) => {
  const env = { ...process.env }
  delete env.NODE_DEBUG
  const run = await runQuiet(env)
  t.equal(run.code, 0, 'both failures happened', { stdout: run.stdout })
  t.equal(run.stdout, '', 'nothing on stdout')
  t.equal(run.stderr, '', 'nothing on stderr')
})

t.test('NODE_DEBUG=handoff: the same failures are printed, one line each, through util.debuglog', async (t) => {
  const run = await runQuiet({ ...process.env, NODE_DEBUG: 'handoff' })
  t.equal(run.code, 0, 'both failures happened', { stdout: run.stdout })
  t.equal(run.stdout, '', 'nothing on stdout')
  const lines = run.stderr.split('\n').filter((l) => l.length > 0)
  t.ok(lines.every((l) => /^HANDOFF \d+: (debug|info|warn|error) /.test(l)), 'every line is debuglog\'s', { lines })
  t.equal(lines.filter((l) => l.includes('dropped a sender channel')).length, 1, 'the receiver\'s dropped channel', { lines })
  const failure = lines.filter((l) => l.includes('handoff failed'))
  t.equal(failure.length, 1, 'the sender\'s failed handoff', { lines })
  t.match(failure[0], /^HANDOFF \d+: warn .*outcome: 'unavailable'.*target: 'chat'.*client: '127\.0\.0\.1:\d+'/)
  t.match(failure[0], /ERR_HANDOFF_UNAVAILABLE/, 'the typed reason')
})
