// One status query (PROTOCOL.md §13): connect to a receiver's socket, read
// its HELLO, send STATUS_REQUEST in place of our own HELLO, read its
// STATUS_REPORT. Every way this can fail becomes one typed error that says
// what the operator should look at: the path, the permissions, or what
// actually listens there.
import { Channel, closeFds } from '../channel.js'
import { binding, type PeerCredentials } from '../native.js'
import { connectUnix, describeAddress, type UnixAddress } from '../unix.js'
import { isSystemError } from '../errors.js'
import {
  ERR_HANDOFF_STATUS_DENIED, ERR_HANDOFF_STATUS_NOT_LISTENING, ERR_HANDOFF_STATUS_NOT_RECEIVER, ERR_HANDOFF_STATUS_NO_SOCKET,
  ERR_HANDOFF_STATUS_UNTRUSTED, ERR_HANDOFF_STATUS_UNSUPPORTED
} from '../errors.js'
import {
  FrameType, PROTOCOL_NAME, decodeMessage, encodeStatusRequest, protocolFramer, type Hello, type Message, type StatusReport
} from '../protocol/index.js'

export interface StatusAnswer {
  /** The address as given ("@name" for an abstract one). */
  address: string
  /** The receiver's HELLO: its protocol versions, pid and name as it says them. */
  hello: Hello
  /** The listening process as the kernel reports it (SO_PEERCRED); null where it cannot tell. */
  credentials: PeerCredentials | null
  report: StatusReport
}

export const DEFAULT_QUERY_TIMEOUT_MS = 3000

/** "@name" is Linux's abstract namespace, as `ss -x` and the receiver's logs write it; anything else is a path. */
export function parseAddress (text: string): UnixAddress {
  return text.startsWith('@') && text.length > 1 ? { abstract: text.slice(1) } : text
}

function connectError (err: unknown, where: string): Error {
  if (!isSystemError(err)) return err as Error
  switch (err.code) {
    case 'ENOENT': return new ERR_HANDOFF_STATUS_NO_SOCKET(where)
    case 'EACCES':
    case 'EPERM': return new ERR_HANDOFF_STATUS_DENIED(where, err.code)
    // ECONNREFUSED: a socket file nobody listens on (or, for an abstract
    // name, no such name); ENOTSOCK and friends: the path is not a socket.
    case 'ECONNREFUSED':
    case 'ENOTSOCK':
    case 'EPROTOTYPE':
    case 'ENOTDIR': return new ERR_HANDOFF_STATUS_NOT_LISTENING(where, err.code)
    default: return err
  }
}

/** Asks the receiver at `address` for its status; rejects with one of the ERR_HANDOFF_STATUS_* errors. */
export async function queryStatus (address: UnixAddress, options: { timeout?: number } = {}): Promise<StatusAnswer> {
  const timeout = options.timeout ?? DEFAULT_QUERY_TIMEOUT_MS
  const where = describeAddress(address)
  let fd: number
  try {
    fd = await connectUnix(address, { timeout })
  } catch (err) {
    throw connectError(err, where)
  }
  let credentials: PeerCredentials | null = null
  try {
    credentials = binding.peerCredentials(fd)
  } catch { /* informational only */ }
  const channel = new Channel(fd, protocolFramer)
  return await new Promise<StatusAnswer>((resolve, reject) => {
    let hello: Hello | null = null
    let settled = false
    const finish = (err: Error | null, answer?: StatusAnswer): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      channel.close()
      if (err !== null) reject(err)
      else resolve(answer as StatusAnswer)
    }
    const notReceiver = (why: string): void => finish(new ERR_HANDOFF_STATUS_NOT_RECEIVER(where, why))
    /** What the other end's silence or close means, given how far it got. */
    const ended = (how: string): void => {
      if (hello !== null) {
        // A receiver from before status requests reads type 32 as a bad header and closes without a word.
        finish(new ERR_HANDOFF_STATUS_UNSUPPORTED(where, `it sent its HELLO, then ${how} without a STATUS_REPORT`))
      } else if (credentials !== null && typeof process.getuid === 'function' && credentials.uid !== process.getuid()) {
        // A receiver closes on a refused peer right away; its ERROR may be lost to the kernel's reset.
        notReceiver(`it ${how} without a word; it runs as uid ${credentials.uid} and this process as uid ${process.getuid()}: ` +
          'if it is a receiver, it may have refused this process\'s credentials')
      } else {
        notReceiver(`it ${how} without a word`)
      }
    }
    const timer = setTimeout(() => {
      if (hello !== null) ended(`sent nothing for ${timeout} ms`)
      else notReceiver(`no answer within ${timeout} ms`)
    }, timeout)

    channel.on('message', (frame, fds) => {
      closeFds(fds) // a status answer never carries any
      let message: Message
      try {
        message = decodeMessage(frame)
      } catch (err) {
        notReceiver(`it sent a frame that does not decode: ${(err as Error).message}`)
        return
      }
      onMessage(message)
    })
    channel.on('frameError', (err) => notReceiver(`its answer broke off: ${err.message}`))
    channel.on('error', (err) => {
      // A write that found the other end gone, or a reset: it closed on us.
      if (isSystemError(err)) ended(err.code === 'EPIPE' || err.code === 'ECONNRESET' ? 'closed the connection' : `failed the connection (${err.code})`)
      else notReceiver(`it answered bytes that are not a fastify-handoff frame (${err.message})`)
    })
    channel.on('end', () => ended('closed the connection'))
    channel.on('close', () => ended('closed the connection'))

    const onMessage = (message: Message): void => {
      if (message.type === FrameType.Error) {
        const { reason, message: text } = message.body
        if (reason === 'unauthorized') {
          finish(new ERR_HANDOFF_STATUS_UNTRUSTED(where, process.getuid?.() ?? -1, process.getgid?.() ?? -1))
        } else if (hello !== null) {
          finish(new ERR_HANDOFF_STATUS_UNSUPPORTED(where, `ERROR ${reason}: ${text}`))
        } else {
          notReceiver(`it answered ERROR ${reason}: ${text}`)
        }
        return
      }
      if (hello === null) {
        if (message.type !== FrameType.Hello || message.body.role !== 'receiver' || message.body.protocol !== PROTOCOL_NAME) {
          notReceiver(`its first frame is a ${message.type === FrameType.Hello ? `HELLO of a ${message.body.role}` : `frame of type ${message.type}`}, not a receiver's HELLO`)
          return
        }
        hello = message.body
        // Asked only now (§13, rule 2): a receiver that refuses us closes
        // without reading, and a request left unread in its socket would make
        // the kernel reset the connection, which can destroy its ERROR first.
        channel.send(encodeStatusRequest({ pid: process.pid })).catch(() => {
          // The receiver went before taking it: the end of the stream says so.
        })
        return
      }
      if (message.type !== FrameType.StatusReport) {
        finish(new ERR_HANDOFF_STATUS_UNSUPPORTED(where, `it answered a frame of type ${message.type}, not a STATUS_REPORT`))
        return
      }
      finish(null, { address: where, hello, credentials, report: message.body })
    }
  })
}
