'use strict'
// The load balancer's configuration: HAProxy in HTTP mode in front of the
// hosts' web apps. leastconn, because WebSockets live long: a new client goes
// to the host with the fewest open connections. A handed-off WebSocket is
// still one HAProxy connection to the host that took it (now a tunnel to the
// sibling's socket), so HAProxy counts it against that host.
function haproxyConfig ({ port, hosts }) {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    // After the 101, a WebSocket is a tunnel: its idle limit is this one.
    '  timeout tunnel 1h',
    '  option forwardfor',
    'frontend cluster',
    `  bind 127.0.0.1:${port}`,
    '  default_backend hosts',
    'backend hosts',
    // pool-max-conn 0: no idle keep-alive connections kept open to a host's
    // web app. A web app restarted by takeover retires once the connections
    // it holds have ended (docs/zero-downtime.md); an idle pooled one would
    // keep it until its drainTimeout and then be closed under HAProxy.
    '  balance leastconn',
    '  option httpchk GET /health',
    ...hosts.map(({ name, port }) => `  server ${name} 127.0.0.1:${port} check inter 2s pool-max-conn 0`),
    ''
  ].join('\n')
}

module.exports = { haproxyConfig }
