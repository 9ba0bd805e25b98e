'use strict'
// The demo page: one WebSocket to /chat (which the web app hands to the
// sibling), and plain fetches to the web app itself, to see which process
// answers each.
const $ = (id) => document.getElementById(id)
const state = { ws: null, socketsOpened: 0, received: 0, conn: null, acceptedBy: null, webappPid: null, restartAskedAt: 0 }

function setText (id, text) { $(id).textContent = String(text) }

function logLine (html, cls) {
  const li = document.createElement('li')
  if (cls) li.className = cls
  li.innerHTML = html
  const log = $('log')
  log.appendChild(li)
  while (log.children.length > 200) log.removeChild(log.firstChild)
  log.scrollTop = log.scrollHeight
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function setWsState (text, cls) {
  const el = $('ws-state')
  el.textContent = text
  el.className = `state ${cls || ''}`
}

function connect () {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/chat`
  const ws = new WebSocket(url)
  state.ws = ws
  state.socketsOpened++
  setText('sockets-opened', state.socketsOpened)
  setWsState('connecting')
  ws.onopen = () => setWsState('open', 'open')
  ws.onclose = (ev) => {
    setWsState(`closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`, 'closed')
    logLine(`The WebSocket closed (code ${ev.code}). Reload the page to open a new one.`, 'system')
  }
  ws.onmessage = (ev) => {
    state.received++
    setText('received', state.received)
    let msg
    try { msg = JSON.parse(ev.data) } catch { return }
    switch (msg.type) {
      case 'welcome':
        state.conn = msg.conn
        state.acceptedBy = msg.webappPid
        setText('conn-id', msg.conn)
        setText('accepted-by', msg.webappPid)
        setText('served-by', msg.siblingPid)
        setText('sibling-now', msg.siblingPid)
        setText('user', msg.user)
        logLine(`Connection #${msg.conn} was accepted by web app <b>${msg.webappPid}</b> and handed to sibling <b>${msg.siblingPid}</b> in ${msg.handoffMs} ms.`, 'system')
        break
      case 'moved': {
        // The sibling restarted live: a new process serves this same WebSocket.
        const from = msg.fromPid
        setText('served-by', msg.siblingPid)
        setText('sibling-now', msg.siblingPid)
        setText('sibling-note', `The sibling restarted: pid ${from} → ${msg.siblingPid}. ` +
          `This WebSocket never closed: still connection #${state.conn}, ${state.received} messages received.`)
        logLine(`The sibling restarted: pid <b>${from}</b> → <b>${msg.siblingPid}</b>. This WebSocket is still open.`, 'system')
        $('restart-sibling').disabled = false
        break
      }
      case 'tick':
        setText('last-tick', `#${msg.n} · ${new Date(msg.at).toLocaleTimeString()} · ${msg.live} online`)
        break
      case 'chat':
        logLine(`<b>${escape(msg.user)}</b> <small>#${msg.conn}</small>: ${escape(msg.text)}`)
        break
      case 'join':
        if (msg.conn !== state.conn) logLine(`${escape(msg.user)} joined (#${msg.conn}).`, 'system')
        break
      case 'leave':
        logLine(`${escape(msg.user)} left (#${msg.conn}).`, 'system')
        break
    }
  }
}

async function whoami () {
  const res = await fetch('/api/whoami', { cache: 'no-store' })
  if (res.status === 401) return null
  if (!res.ok) throw new Error(`whoami: HTTP ${res.status}`)
  return res.json()
}

function showWebapp (me) {
  if (state.webappPid !== null && me.pid !== state.webappPid) {
    const took = state.restartAskedAt ? ` in ${Date.now() - state.restartAskedAt} ms` : ''
    const open = state.ws && state.ws.readyState === WebSocket.OPEN
    setText('restart-note', `The web app restarted${took}: pid ${state.webappPid} → ${me.pid}. ` +
      (open ? `This WebSocket never closed: still connection #${state.conn}, ${state.received} messages received.` : ''))
    logLine(`The web app restarted: pid ${state.webappPid} → ${me.pid} (generation ${me.generation}). This WebSocket is still open.`, 'system')
    state.restartAskedAt = 0
    $('restart').disabled = false
  }
  state.webappPid = me.pid
  setText('webapp-now', me.pid)
  setText('webapp-generation', me.generation)
}

// Keep asking which web app answers; quickly while a restart is under way
// (the port is closed for a moment between the old process and the new one).
async function poll () {
  try {
    const me = await whoami()
    if (me) showWebapp(me)
  } catch { /* between two web apps: try again */ }
  setTimeout(poll, state.restartAskedAt ? 150 : 2000)
}

$('restart-sibling').addEventListener('click', () => {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return
  $('restart-sibling').disabled = true
  setText('sibling-note', 'Restarting the sibling…')
  state.ws.send(JSON.stringify({ type: 'restart-sibling' }))
})

$('restart').addEventListener('click', async () => {
  $('restart').disabled = true
  setText('restart-note', 'Restarting the web app…')
  state.restartAskedAt = Date.now()
  try {
    const res = await fetch('/api/restart', { method: 'POST' })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
  } catch (err) {
    setText('restart-note', `Restart failed: ${err.message}`)
    state.restartAskedAt = 0
    $('restart').disabled = false
  }
})

$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const text = $('msg').value.trim()
  if (!text || !state.ws || state.ws.readyState !== WebSocket.OPEN) return
  state.ws.send(JSON.stringify({ type: 'chat', text }))
  $('msg').value = ''
})

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const res = await fetch('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: $('name').value })
  })
  if (!res.ok) return alert(`login failed: HTTP ${res.status}`)
  start(await res.json())
})

function start (me) {
  $('login').hidden = true
  $('demo').hidden = false
  setText('user', me.user)
  showWebapp(me)
  connect()
  setTimeout(poll, 2000)
}

whoami().then((me) => {
  if (me) return start(me)
  $('name').value = `guest-${Math.floor(1000 + Math.random() * 9000)}`
  $('login').hidden = false
  $('name').focus()
}, (err) => { document.body.textContent = `The web app did not answer: ${err.message}` })
