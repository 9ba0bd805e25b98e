// systemd socket activation (sd_listen_fds(3)): the service manager opened
// the listening sockets and passes them as descriptors 3, 4, … with
// LISTEN_FDS (how many), LISTEN_PID (for which process: a child that
// inherited the environment must not take them) and LISTEN_FDNAMES (their
// FileDescriptorName=, colon-separated). The variables are removed once read,
// as sd_listen_fds(1) does, so that a process this one starts does not
// believe they are its own.
import { binding } from '../native.js'

const SD_LISTEN_FDS_START = 3

export interface ActivatedListener { fd: number, name: string | null, kind: 'tcp' | 'unix' }

export function systemdListeners (env: NodeJS.ProcessEnv = process.env): ActivatedListener[] {
  const count = Number(env.LISTEN_FDS)
  const pid = Number(env.LISTEN_PID)
  const names = env.LISTEN_FDNAMES?.split(':')
  delete env.LISTEN_FDS
  delete env.LISTEN_PID
  delete env.LISTEN_FDNAMES
  if (!Number.isInteger(count) || count <= 0 || pid !== process.pid) return []
  const out: ActivatedListener[] = []
  for (let i = 0; i < count; i++) {
    const fd = SD_LISTEN_FDS_START + i
    let info
    try { info = binding.fdInfo(fd) } catch { continue }
    // Only listening stream sockets: a datagram or a FIFO is not ours to serve.
    if (info.kind !== 'socket' || info.type !== 'stream' || info.listening !== true) continue
    const kind = info.family === 'unix' ? 'unix' : 'tcp'
    // Inherited without close-on-exec: a process this one starts (its own
    // successor, say) must not hold our listening socket.
    binding.setCloexec(fd)
    out.push({ fd, name: names?.[i] ?? null, kind })
  }
  return out
}
