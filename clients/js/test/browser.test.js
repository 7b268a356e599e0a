// The demo page in a real browser (Debian's chromium, driven by
// playwright-core) against a real wsrelay and a real redis-server.
// Run: WSRELAY_BINARY=build/wsrelay node --test clients/js/test/browser.test.js
// A screenshot of the demo goes to $WSRELAY_ARTIFACT_DIR (default: the
// system's temporary directory) as demo.png.
'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Gateway, Redis, tool, waitFor } = require('./support.js');

const { chromium } = tool('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.WSRELAY_ARTIFACT_DIR || os.tmpdir();
const HEARTBEAT = '--heartbeat--';
const IDLE_TIMEOUT_SECONDS = 2;

// The lines of a panel's log, as the visitor sees them.
function lines(page, panel = '#room') {
  return page.locator(`${panel} .log li`).allTextContents();
}
function state(page, panel = '#room') {
  return page.locator(`${panel} .state`).textContent();
}
async function waitForLine(page, text, what) {
  await waitFor(async () => (await lines(page)).includes(text),
    { timeout: 15000, interval: 25, what: what || `"${text}" on the page` });
}

describe('the demo page in chromium', () => {
  let redis;
  let gateway;
  let browser;

  before(async () => {
    redis = await Redis.start();
    // Pings far apart and a short idle timeout: only the page's heartbeats
    // keep an idle connection open (a browser answers pings on its own).
    gateway = await Gateway.start(redis, {
      'server.demo': 'true',
      'websocket.heartbeat': HEARTBEAT,
      'websocket.heartbeat_interval_seconds': 1,
      'websocket.idle_timeout_seconds': IDLE_TIMEOUT_SECONDS,
      'websocket.ping_interval_seconds': 600,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking'],
    });
  });
  after(async () => {
    if (browser) await browser.close();
    if (gateway) await gateway.stop();
    if (redis) await redis.stop();
  });

  // A page of the demo whose heartbeats go out every 400 ms, well inside the
  // idle timeout (the client's default, 5 s, would be longer than it).
  async function openDemo() {
    const page = await browser.newPage({ viewport: { width: 820, height: 640 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(gateway.httpUrl('/demo/?heartbeat_interval=400'));
    await waitFor(async () => (await state(page)) === 'open',
      { timeout: 20000, what: 'the page to connect' });
    page.errors = errors;
    return page;
  }

  test('receives a message published with redis-cli, and a message from another page', async () => {
    const a = await openDemo();
    const b = await openDemo();
    assert.match(await a.locator('#room .command').textContent(),
      new RegExp(`^redis-cli -p ${redis.port} PUBLISH broadcast:demo "hello from the shell"$`));
    await waitFor(async () => (await gateway.subscribers('broadcast:demo')) === 1);

    await redis.cli('PUBLISH', 'broadcast:demo', 'hello from redis-cli');
    await waitForLine(a, 'hello from redis-cli');
    await waitForLine(b, 'hello from redis-cli');

    await a.locator('#room input').fill('hello from page a');
    await a.locator('#room button').click();
    await waitForLine(b, 'hello from page a', 'page b to receive page a\'s message');
    await waitForLine(a, 'hello from page a', 'page a\'s echo');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await a.screenshot({ path: path.join(ARTIFACTS, 'demo.png') });
    assert.deepEqual(a.errors, []);
    await a.close();
    await b.close();
  });

  test('reconnects after the gateway restarts and receives again', async () => {
    const page = await openDemo();
    await gateway.restart();
    await waitFor(async () => (await lines(page)).some((l) => l.startsWith('disconnected')),
      { what: 'the page to see the drop' });
    await waitFor(async () => (await state(page)) === 'open',
      { timeout: 15000, what: 'the page to reconnect' });
    await waitFor(async () => (await gateway.subscribers('broadcast:demo')) === 1);
    await redis.cli('PUBLISH', 'broadcast:demo', 'after the restart');
    await waitForLine(page, 'after the restart');
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('heartbeats keep an idle page connected past the idle timeout', async () => {
    const page = await openDemo();
    // The control: a bare WebSocket in the same browser, sending nothing.
    const control = await browser.newPage();
    await control.goto(gateway.httpUrl('/healthz'));
    await control.evaluate((url) => {
      window.controlClosed = null;
      const ws = new WebSocket(url);
      ws.onclose = (e) => { window.controlClosed = { code: e.code, reason: e.reason }; };
    }, gateway.url('/ws/demo?subscribe-broadcast'));
    const closed = await waitFor(() => control.evaluate(() => window.controlClosed),
      { timeout: (IDLE_TIMEOUT_SECONDS + 10) * 1000, what: 'the idle control to be closed' });
    assert.equal(closed.code, 1001);
    assert.match(closed.reason, /idle/);

    // The demo page opened before the control and sent nothing but
    // heartbeats: still connected, never dropped, and receiving.
    assert.equal(await state(page), 'open');
    assert.equal((await lines(page)).filter((l) => l.startsWith('disconnected')).length, 0);
    await redis.cli('PUBLISH', 'broadcast:demo', 'still here');
    await waitForLine(page, 'still here');
    assert.ok(!(await lines(page)).includes(HEARTBEAT), 'heartbeats are not shown');
    await control.close();
    await page.close();
  });
});
