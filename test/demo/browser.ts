// The demo in a real browser: Debian's chromium, headless, driven by
// playwright-core. The page's WebSocket is authenticated by the web app and
// handed to the sibling; the page shows both pids; the web app is restarted
// from the page's button and the SAME WebSocket keeps carrying messages;
// then the sibling is restarted live from the page's other button: the page
// shows the new sibling's pid and the same WebSocket stays open.
//
// DEMO_SCREENSHOT=/tmp/demo.png saves a screenshot of the page after the restart.
import t from 'tap'
import fs from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { checkFdLeaks } from '../helpers/fds.js'
import { prerequisite } from '../helpers/prereq.js'
import { alive, exitsWith, node } from '../examples/helpers.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const skip = prerequisite(t, { name: `chromium at ${CHROMIUM}`, available: fs.existsSync(CHROMIUM), install: 'apt-get install chromium, or set CHROMIUM_PATH' })

const text = async (page: Page, selector: string): Promise<string> => (await page.textContent(selector) ?? '').trim()
const number = async (page: Page, selector: string): Promise<number> => Number(await text(page, selector))

/** Sends a chat line from the page and waits for the sibling's broadcast of it to appear. */
async function chat (page: Page, line: string): Promise<void> {
  await page.fill('#msg', line)
  await page.click('#send')
  await page.locator('#log li', { hasText: line }).waitFor()
}

t.test('browser: the page\'s WebSocket survives a restart of the web app, then a live restart of the sibling', { skip }, async (t) => {
  checkFdLeaks(t)
  const demo = node(t, 'examples/demo/run.js', ['--port', '0'], { DEMO_TICK_MS: '200' })
  const [, url] = await demo.waitFor(/^\[run\] ready: (http:\/\/\S+)$/)
  const [, siblingPid] = await demo.waitFor(/^ {2}sibling {2}pid (\d+):/)
  const [, webappPid] = await demo.waitFor(/^ {2}web app {2}pid (\d+):/)
  const [, dir] = await demo.waitFor(/receives handoffs on (\S+)\/chat\.sock$/)

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1100, height: 950 } })
  page.setDefaultTimeout(15000)
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))

  await page.goto(url)
  // Not logged in yet: the page asks for a name (the API answered 401).
  await page.locator('#login').waitFor()
  await page.fill('#name', 'browser-user')
  await page.click('#join')

  await page.locator('#ws-state.open').waitFor()
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#served-by')?.textContent ?? ''))
  const acceptedBy = await number(page, '#accepted-by')
  const servedBy = await number(page, '#served-by')
  t.equal(acceptedBy, Number(webappPid), 'the page shows the pid of the web app that accepted the WebSocket')
  t.equal(servedBy, Number(siblingPid), 'and the pid of the sibling serving it')
  t.not(acceptedBy, servedBy, 'two different processes')
  t.equal(await number(page, '#webapp-now'), acceptedBy, 'the web app answering fetches is the one that accepted it')
  t.equal(await text(page, '#user'), 'browser-user')
  const conn = await text(page, '#conn-id')
  t.match(conn, /^\d+$/, 'the sibling numbered the connection')

  await chat(page, 'hello from chromium')
  t.equal(await number(page, '#sockets-opened'), 1)

  // Restart the web app from the page.
  const mark = demo.mark
  await page.click('#restart')
  const [, oldPid, newPid] = await demo.waitFor(/^\[run\] restart #1 done in \d+ ms: web app (\d+) → (\d+) /, { after: mark })
  t.equal(Number(oldPid), acceptedBy, 'the web app that accepted the WebSocket was the one restarted')
  await page.locator('#restart-note', { hasText: 'restarted' }).waitFor()
  t.equal(await number(page, '#webapp-now'), Number(newPid), 'the page sees the new web app (no reload)')
  t.equal(await text(page, '#webapp-generation'), '2')

  // The same WebSocket keeps receiving (ticks) and carrying chat both ways.
  const sameWebSocket = async (after: string): Promise<void> => {
    const received = await number(page, '#received')
    await page.waitForFunction((n) => Number(document.querySelector('#received')?.textContent) > n, received)
    await chat(page, `still here after ${after}`)
    t.equal(await text(page, '#ws-state'), 'open', `${after}: the WebSocket never closed`)
    t.equal(await text(page, '#conn-id'), conn, `${after}: same connection id, no new connection at the sibling`)
    t.equal(await number(page, '#sockets-opened'), 1, `${after}: the page never opened a second WebSocket`)
    t.equal(await number(page, '#accepted-by'), acceptedBy, `${after}: still the connection the first web app accepted`)
  }
  await sameWebSocket('the web app restart')
  t.equal(await number(page, '#served-by'), servedBy)

  // Restart the sibling from the page: a new sibling takes the socket and
  // this WebSocket over live, and the page is told its pid over the same
  // WebSocket.
  const siblingMark = demo.mark
  await page.click('#restart-sibling')
  const [, fromSibling, toSibling, moved, kept, closed] = await demo.waitFor(new RegExp(
    '^\\[run\\] sibling restart #1 done in \\d+ ms: sibling (\\d+) → (\\d+); ' +
    'moved (\\d+) WebSocket\\(s\\) in \\d+ ms, kept (\\S+), closed (\\d+)$'), { after: siblingMark })
  t.equal(Number(fromSibling), servedBy, 'the sibling serving the page was the one restarted')
  t.not(toSibling, fromSibling, 'a new sibling process')
  t.same([moved, kept, closed], ['1', 'none', '0'], 'run.js reports the page\'s WebSocket moved, none kept, none closed')
  await page.locator('#sibling-note', { hasText: `pid ${fromSibling} → ${toSibling}` }).waitFor()
  t.match(await text(page, '#sibling-note'), `This WebSocket never closed: still connection #${conn},`,
    'the page says the WebSocket never closed')
  t.equal(await number(page, '#sibling-now'), Number(toSibling), 'the page shows the new sibling\'s pid')
  t.equal(await number(page, '#served-by'), Number(toSibling))
  t.ok(await page.isEnabled('#restart-sibling'), 'the button is usable again')
  // …and it is true: the same WebSocket, still open, carries the new
  // sibling's ticks and chat both ways.
  await sameWebSocket('the sibling restart')
  t.equal(await page.locator('#log li', { hasText: / left \(#/ }).count(), 0, 'no "left" was ever shown')
  if (process.env.DEMO_SCREENSHOT !== undefined) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true })

  // Ctrl-C: the sibling closes the WebSocket (1001) and every process exits.
  demo.kill('SIGINT')
  await page.locator('#ws-state', { hasText: 'closed (1001' }).waitFor()
  await exitsWith(t, demo, 0)
  t.notOk(fs.existsSync(dir), 'the socket directory is gone')
  for (const pid of [siblingPid, toSibling, webappPid, newPid]) t.notOk(alive(Number(pid)), `process ${pid} is gone`)
  t.same(pageErrors, [], 'no script error on the page')
})
