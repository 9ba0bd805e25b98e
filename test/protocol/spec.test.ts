// PROTOCOL.md and the codec must agree: the worked examples byte for byte,
// the tables, and the Python sketch (run against the codec when python3 is here).
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { checkFdLeaks } from '../helpers/fds.js'
import { prerequisite } from '../helpers/prereq.js'
import {
  FrameType, FRAME_TYPE_NAMES, HEADER_SIZE, REJECT_REASONS, ERROR_REASONS, DEFAULT_RETRYABLE, MAX_FRAME_SIZE, MAX_META_SIZE,
  MAX_HEAD_SIZE, MAX_BUFFERED_SIZE, MAX_HANDOFF_FRAME_SIZE, MAX_CONTROL_BODY_SIZE, MAX_FDS_PER_FRAME, MIN_MAX_FRAME_SIZE,
  encodeHello, encodeHandoff, encodeAccept, encodeReject, encodeStatus, encodeGoodbye, encodeError, decodeMessage,
  protocolFramer, type Message
} from '../../plugin/protocol/index.js'

const doc = readFileSync(path.join(__dirname, '..', '..', 'PROTOCOL.md'), 'utf8')

/** The bytes of the `hexdump -C` block after `<!-- example:NAME -->`, checking offsets and the ASCII column. */
function example (t: Test, name: string): Buffer {
  const match = new RegExp(`<!-- example:${name} -->\\n\`\`\`text\\n([\\s\\S]*?)\`\`\``).exec(doc)
  if (match === null) throw new Error(`no example "${name}" in PROTOCOL.md`)
  const bytes: number[] = []
  for (const line of match[1].trimEnd().split('\n')) {
    const m = /^([0-9a-f]{8}) {2}(.{48}) {2}\|(.*)\|$/.exec(line)
    if (m === null) throw new Error(`bad dump line in example "${name}": ${line}`)
    t.equal(parseInt(m[1], 16), bytes.length, `${name}: offset ${m[1]}`)
    const row = m[2].trim().split(/\s+/).map((h) => parseInt(h, 16))
    const ascii = row.map((b) => b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.').join('')
    t.equal(m[3], ascii, `${name}: ASCII column at ${m[1]}`)
    bytes.push(...row)
  }
  return Buffer.from(bytes)
}

/** Rows of the first markdown table after `heading`: cells, backticks removed. */
function table (heading: string): string[][] {
  const start = doc.indexOf(heading)
  if (start === -1) throw new Error(`no "${heading}" in PROTOCOL.md`)
  const lines = doc.slice(start).split('\n')
  const first = lines.findIndex((line) => line.startsWith('|'))
  const rows: string[][] = []
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim().replace(/`/g, '')))
  }
  return rows
}

const EXAMPLE_HEAD = 'GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'

t.test('10.1: the HELLO example', async (t) => {
  const documented = example(t, 'hello')
  t.equal(documented.length, 123)
  t.same(encodeHello({ role: 'sender', pid: 4242 }), documented, 'encodeHello gives the documented bytes')
  const message = decodeMessage(documented)
  t.equal(message.type, FrameType.Hello)
  t.same(message.body, { protocol: 'fastify-handoff', version: 1, minVersion: 1, role: 'sender', pid: 4242, maxFrameSize: 1048576 })
  t.same(protocolFramer.parse(documented.subarray(0, 16)), { frameSize: 123, fdCount: 0 })
  t.match(doc, '`00 00 00 6b` (107)')
})

t.test('10.2: the HANDOFF example', async (t) => {
  const documented = example(t, 'handoff')
  t.equal(documented.length, 264)
  const frame = encodeHandoff(1, {
    meta: {
      kind: 'upgrade',
      target: 'chat',
      keepAlive: true,
      sentAt: 1700000000000,
      remoteAddress: '203.0.113.7',
      remotePort: 51234,
      context: { room: 'lobby' }
    },
    head: Buffer.from(EXAMPLE_HEAD),
    buffered: Buffer.from('ping')
  })
  t.same(frame, documented, 'encodeHandoff gives the documented bytes')
  t.same(protocolFramer.parse(documented.subarray(0, 16)), { frameSize: 264, fdCount: 1 })
  const message = decodeMessage(documented, { fds: 1 })
  if (message.type !== FrameType.Handoff) throw new Error('not a HANDOFF')
  t.equal(message.id, 1)
  t.equal(message.body.head.toString(), EXAMPLE_HEAD)
  t.equal(message.body.buffered.toString(), 'ping')
  t.equal(documented.readUInt32BE(16), 0x96, 'metaLength 150, as documented')
  t.equal(documented.readUInt32BE(20 + 150), 0x52, 'headLength 82, as documented')
  t.equal(documented.readUInt32BE(24 + 150 + 82), 4, 'bufferedLength 4, as documented')
  t.equal(HEADER_SIZE + 4 + documented.readUInt32BE(16) + 4 + documented.readUInt32BE(20 + 150) + 4 + documented.readUInt32BE(24 + 150 + 82),
    documented.length, 'the sections add up to the whole documented frame (264 bytes)')
})

t.test('10.3: the ACCEPT and REJECT examples', async (t) => {
  t.same(encodeAccept(1, { live: 3, max: 100 }), example(t, 'accept'))
  t.same(encodeReject(1, { reason: 'capacity', message: 'full' }), example(t, 'reject'))
  t.same(decodeMessage(example(t, 'reject')).body, { reason: 'capacity', message: 'full', retryable: true })
})

t.test('§3: the type table', async (t) => {
  const rows = table('## 3. Frame types').filter((row) => /^\d+$/.test(row[0]) && row[0] !== '0')
  t.same(rows.map((row) => [Number(row[0]), row[1]]),
    Object.entries(FRAME_TYPE_NAMES).map(([type, name]) => [Number(type), name]))
  t.equal(FrameType.Error, 7)
})

t.test('§6.4 and §6.7: the reason tables are the codec\'s', async (t) => {
  const reject = table('Reasons of version 1 (a reader MUST accept')
  t.same(reject.map((row) => row[0]), [...REJECT_REASONS])
  t.same(reject.map((row) => row[2] === 'true'), REJECT_REASONS.map((reason) => DEFAULT_RETRYABLE[reason]),
    'the "usual retryable" column is DEFAULT_RETRYABLE')
  t.same(table('Reasons of version 1 (others are allowed)').map((row) => row[0]), [...ERROR_REASONS])
})

t.test('§8: the limits table', async (t) => {
  const rows = new Map(table('## 8. Limits').map((row) => [row[0], row[1]]))
  const number = (text: string | undefined): number => Number((text ?? '').split(/[ =(]/)[0].replace(/,/g, ''))
  t.equal(number(rows.get('maxFrameSize, default and recommended')), MAX_FRAME_SIZE)
  t.equal(number(rows.get('maxFrameSize, allowed range in HELLO')), MIN_MAX_FRAME_SIZE)
  t.equal(number(rows.get('HANDOFF meta')), MAX_META_SIZE)
  t.equal(number(rows.get('HANDOFF head')), MAX_HEAD_SIZE)
  t.equal(number(rows.get('HANDOFF buffered')), MAX_BUFFERED_SIZE)
  t.equal(number(rows.get('largest HANDOFF the sections allow')), MAX_HANDOFF_FRAME_SIZE)
  t.equal(number(rows.get('body of any other type')), MAX_CONTROL_BODY_SIZE)
  t.match(rows.get('fdCount') ?? '', `0 – ${MAX_FDS_PER_FRAME}`)
})

// ---------------------------------------------------------------------------
// The Python sketch of §11, run for real: its frames must decode here, ours there.

const HARNESS = String.raw`
import json, os, socket, sys, threading
exec(sys.argv[1])
ts_frames = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
out = {"pid": os.getpid()}
srv = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()

a, b = socket.socketpair()
def write():
    a.sendall(hello("sender"))
    send_handoff(a, 7, conn.fileno(), {"kind": "raw", "keepAlive": False, "sentAt": 0}, b"", b"xyz")
    for f in ts_frames: a.sendall(f)
    a.close()
w = threading.Thread(target=write); w.start()
out["read"] = []
for ftype, fid, fd_count, body, fds, truncated in frames(b):
    item = {"frame": frame(ftype, fid, body, fd_count).hex(), "fds": len(fds), "truncated": truncated}
    for fd in fds:
        s = socket.socket(fileno=fd)
        item["sameConnection"] = s.getpeername() == client.getsockname()
        s.close()
    out["read"].append(item)
w.join(); b.close()

a2, b2 = socket.socketpair()
r = threading.Thread(target=lambda: (serve(b2), b2.close())); r.start()
a2.sendall(hello("sender"))
send_handoff(a2, 8, conn.fileno(), {"kind": "request", "keepAlive": True, "sentAt": 1}, b"GET / HTTP/1.1\r\n\r\n")
a2.sendall(frame(HANDOFF, 9, b"\0\0\0\x02{}" + b"\0" * 8, 1))  # declares a descriptor, brings none
a2.shutdown(socket.SHUT_WR)
served = b""
while True:
    chunk = a2.recv(65536)
    if not chunk: break
    served += chunk
r.join()
out["served"] = served.hex()
print(json.dumps(out))
`

function sketch (marker: string): string {
  const match = new RegExp(`<!-- sketch:${marker} -->\\n\`\`\`python\\n([\\s\\S]*?)\`\`\``).exec(doc)
  if (match === null) throw new Error(`no sketch "${marker}" in PROTOCOL.md`)
  return match[1]
}

function splitFrames (stream: Buffer): Buffer[] {
  const out: Buffer[] = []
  let offset = 0
  while (offset < stream.length) {
    const { frameSize } = protocolFramer.parse(stream.subarray(offset, offset + 16))
    out.push(stream.subarray(offset, offset + frameSize))
    offset += frameSize
  }
  return out
}

const probe = spawnSync('python3', ['-c', 'import socket, sys; socket.send_fds; sys.exit(0 if sys.version_info >= (3, 9) else 1)'])
const noPython = prerequisite(t, { name: 'python3 >= 3.9 (socket.send_fds)', available: probe.status === 0, install: 'apt-get install python3' })
t.test('§11: the Python sketch talks to this codec', { skip: noPython }, async (t) => {
  checkFdLeaks(t)
  const ours = [
    encodeAccept(5, { live: 2, max: null }),
    encodeReject(6, { reason: 'draining', message: 'r'.repeat(10000) }),
    encodeStatus({ live: 2, max: 10, draining: false }),
    encodeGoodbye({ reason: 'draining' }),
    encodeError({ reason: 'internal', message: 'bye' })
  ]
  const run = spawnSync('python3', ['-c', HARNESS, `${sketch('python')}\n${sketch('python-receiver')}`], {
    input: JSON.stringify(ours.map((frame) => frame.toString('hex'))),
    timeout: 30000
  })
  t.equal(run.status, 0, `python3 exits cleanly${run.stderr.length > 0 ? `: ${run.stderr.toString()}` : ''}`)
  if (run.status !== 0) return
  const out = JSON.parse(run.stdout.toString()) as {
    pid: number
    read: Array<{ frame: string, fds: number, truncated: boolean, sameConnection?: boolean }>
    served: string
  }
  t.equal(out.read.length, 2 + ours.length)
  const [pyHello, pyHandoff, ...rest] = out.read
  t.same(Buffer.from(pyHello.frame, 'hex'), encodeHello({ role: 'sender', pid: out.pid }),
    'the sketch\'s HELLO is byte for byte encodeHello\'s')
  t.equal(pyHello.fds, 0)
  const handoff = decodeMessage(Buffer.from(pyHandoff.frame, 'hex'), { fds: pyHandoff.fds, truncated: pyHandoff.truncated })
  if (handoff.type !== FrameType.Handoff) throw new Error('not a HANDOFF')
  t.equal(handoff.id, 7)
  t.same(handoff.body.meta, { kind: 'raw', keepAlive: false, sentAt: 0 })
  t.equal(handoff.body.buffered.toString(), 'xyz')
  t.equal(pyHandoff.sameConnection, true, 'the descriptor bound to the HANDOFF is the client connection')
  t.same(rest.map((item) => Buffer.from(item.frame, 'hex')), ours, 'the sketch reads our frames intact')
  t.same(rest.map((item) => item.fds), ours.map(() => 0))

  const served: Message[] = splitFrames(Buffer.from(out.served, 'hex')).map((frame) => decodeMessage(frame))
  t.same(served.map((m) => [m.type, m.id]), [[FrameType.Hello, 0], [FrameType.Accept, 8], [FrameType.Reject, 9]])
  t.match(served[0].body, { role: 'receiver', version: 1, minVersion: 1, maxFrameSize: MAX_FRAME_SIZE })
  t.same(served[1].body, { live: 1, max: null })
  t.same(served[2].body, { reason: 'descriptors-missing', message: '', retryable: false })
})

// ---------------------------------------------------------------------------
// Version 2 (§14): its worked examples byte for byte, and its Python sketch
// against this codec in both directions.

t.test('14.5: the version 2 HANDOFF and ACCEPT examples', async (t) => {
  const documented = example(t, 'handoff-v2')
  t.equal(documented.length, 181)
  const meta = { kind: 'upgrade', target: 'chat', keepAlive: true, sentAt: 1700000000000, remoteAddress: '203.0.113.7', remotePort: 51234, context: { room: 'lobby' } } as const
  const frame = encodeHandoff(1, { meta, head: Buffer.from(EXAMPLE_HEAD), buffered: Buffer.from('ping') }, MAX_FRAME_SIZE, 2)
  t.same(frame, documented, 'encodeHandoff(…, 2) gives the documented bytes')
  t.same(protocolFramer.parse(documented.subarray(0, 16)), { frameSize: 181, fdCount: 1 })
  const message = decodeMessage(documented, { fds: 1, version: 2 })
  if (message.type !== FrameType.Handoff) throw new Error('not a HANDOFF')
  t.same(message.body.meta, meta, 'the same metadata as §10.2\'s')
  t.same(decodeMessage(example(t, 'handoff'), { fds: 1 }).body, message.body, 'the same handoff as §10.2\'s, whole')
  t.equal(documented.readUInt32BE(16), 0x43, 'metaLength 67, as documented')
  const accept = example(t, 'accept-v2')
  t.same(encodeAccept(1, { live: 3, max: 100 }, 2), accept)
  t.same(decodeMessage(accept, { version: 2 }).body, { live: 3, max: 100 })
  t.match(doc, '| 20 | 8 | `sentAt` |', 'the layout table names the offsets the codec writes')
})

const HARNESS_V2 = String.raw`
import json, sys
exec(sys.argv[1])
given = json.loads(sys.stdin.read())
print(json.dumps({
    "packed": [meta_v2(m).hex() for m in given["metas"]],
    "parsed": [parse_meta_v2(bytes.fromhex(h)) for h in given["sections"]],
    "accepts": [list(accept_v2(bytes.fromhex(h))) for h in given["accepts"]],
}, ensure_ascii=False))
`

t.test('§14.6: the Python sketch of version 2 writes and reads what this codec does', { skip: noPython }, async (t) => {
  const head = Buffer.from(EXAMPLE_HEAD)
  const metas: Array<Parameters<typeof encodeHandoff>[1]['meta']> = [
    { kind: 'upgrade', target: 'chat', keepAlive: true, sentAt: 1700000000000, remoteAddress: '203.0.113.7', remotePort: 51234, context: { room: 'lobby' } },
    { kind: 'raw', keepAlive: false, sentAt: 0 },
    { kind: 'request', keepAlive: false, sentAt: 1.5, deadline: 1700000005000, remoteAddress: '::1', remotePort: 0, localAddress: '::1', localPort: 65535, family: 'IPv6' },
    { kind: 'request', keepAlive: true, sentAt: 2, family: 'IPv4', target: 'salle-é-😀', context: [null, 'é ✓ \u0000', { n: -1.25 }] },
    { kind: 'websocket', keepAlive: true, sentAt: 3, resume: { extensions: 'permessage-deflate', n: [1] }, context: null }
  ]
  const sections = metas.map((meta) => {
    const frame = encodeHandoff(1, { meta, head, buffered: Buffer.alloc(0) }, MAX_FRAME_SIZE, 2)
    return frame.subarray(20, 20 + frame.readUInt32BE(16))
  })
  const accepts = [encodeAccept(1, { live: 3, max: 100 }, 2), encodeAccept(1, { live: 2 ** 40, max: null }, 2)]
  const run = spawnSync('python3', ['-c', HARNESS_V2, sketch('python-v2')], {
    input: JSON.stringify({ metas, sections: sections.map((s) => s.toString('hex')), accepts: accepts.map((a) => a.subarray(16).toString('hex')) }),
    timeout: 30000
  })
  t.equal(run.status, 0, `python3 exits cleanly${run.stderr.length > 0 ? `: ${run.stderr.toString()}` : ''}`)
  if (run.status !== 0) return
  const out = JSON.parse(run.stdout.toString()) as { packed: string[], parsed: unknown[], accepts: unknown[] }
  for (const [i, meta] of metas.entries()) {
    t.equal(out.packed[i], sections[i].toString('hex'), `meta #${i}: the sketch's bytes are the codec's`)
    t.same(out.parsed[i], meta, `meta #${i}: the sketch reads the codec's section`)
  }
  t.same(out.accepts, [[3, 100], [2 ** 40, null]], 'the sketch reads the codec\'s ACCEPT bodies')
})
