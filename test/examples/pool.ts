// examples/pool: three siblings behind one target, round-robin; one of them
// stops and the others take the new connections while theirs stay open.
import t from 'tap'
import fs from 'node:fs'
import { checkFdLeaks } from '../helpers/fds.js'
import { alive, exitsWith, node, wsClient, type WsClient } from './helpers.js'

t.test('pool: connections spread over the siblings; one stops, the others carry on', async (t) => {
  checkFdLeaks(t)
  const web = node(t, 'examples/pool/web.js', ['--port', '0'])
  const [, line] = await web.waitFor(/^\[web \d+\] (ws:\/\/\S+ → .*)$/)
  const url = line.split(' ')[0]
  const pids = new Map<string, number>()
  for (const m of line.matchAll(/(sibling-\d) \(pid (\d+)\)/g)) pids.set(m[1], Number(m[2]))
  t.equal(pids.size, 3, 'three siblings')

  const open = async (n: number): Promise<Array<{ client: WsClient, sibling: string }>> => {
    const out = []
    for (let i = 0; i < n; i++) {
      const client = wsClient(t, url)
      const hello = await client.next((m) => m.sibling !== undefined)
      t.equal(hello.pid, pids.get(hello.sibling), `${hello.sibling} greets with its own pid`)
      out.push({ client, sibling: hello.sibling as string })
    }
    return out
  }
  const tally = (conns: Array<{ sibling: string }>): Record<string, number> =>
    conns.reduce<Record<string, number>>((acc, c) => { acc[c.sibling] = (acc[c.sibling] ?? 0) + 1; return acc }, {})

  const first = await open(6)
  t.same(tally(first), { 'sibling-1': 2, 'sibling-2': 2, 'sibling-3': 2 }, 'round-robin: two each')

  // sibling-2 stops: its connections close, the others' stay open.
  const mark = web.mark
  process.kill(pids.get('sibling-2') as number, 'SIGTERM')
  for (const c of first.filter((c) => c.sibling === 'sibling-2')) t.equal((await c.client.closed).code, 1001, 'sibling-2 closed its own connections')
  await web.waitFor(/^\[web \d+\] sibling-2 exited \(0\); the pool goes on without it$/, { after: mark })

  const second = await open(4)
  t.same(tally(second), { 'sibling-1': 2, 'sibling-3': 2 }, 'new connections go to the two left')
  for (const c of [...first.filter((c) => c.sibling !== 'sibling-2'), ...second]) {
    const m = c.client.mark
    c.client.ws.send('still there?')
    const echo = await c.client.next((msg) => msg.echo !== undefined, m)
    t.equal(echo.sibling, c.sibling)
  }

  web.kill('SIGINT')
  for (const c of [...first, ...second]) await c.client.closed
  await exitsWith(t, web, 0)
  t.equal(web.count(/./, 'stderr'), 0, 'nothing on stderr', { output: web.text() })
  for (const [name, pid] of pids) t.notOk(alive(pid), `${name} exited`)
  const dir = /ready on (\S+)\/sibling-1\.sock$/.exec(web.lines.map((l) => l.text).find((l) => l.includes('sibling-1.sock')) ?? '')?.[1]
  t.ok(dir !== undefined && !fs.existsSync(dir), 'the socket directory is gone')
})
