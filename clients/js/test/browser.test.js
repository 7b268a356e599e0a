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
const { Gateway, HistoryPublisher, Redis, tool, waitFor } = require('./support.js');

const { chromium } = tool('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.WSRELAY_ARTIFACT_DIR || os.tmpdir();
const HEARTBEAT = '--heartbeat--';
const IDLE_TIMEOUT_SECONDS = 2;

function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

async function stopAll(browser, gateway, redis) {
  if (browser) await browser.close();
  if (gateway) await gateway.stop();
  if (redis) await redis.stop();
}

// The lines of a panel's log, as the visitor sees them.
function lines(page, panel = '#room') {
  return page.locator(`${panel} .log li`).allTextContents();
}
// "<ms>-<seq>" positions, compared as numbers.
function positionAfter(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am > bm || (am === bm && as > bs);
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
  let publisher;

  before(async () => {
    redis = await Redis.start();
    publisher = new HistoryPublisher(redis.port);
    // Pings far apart and a short idle timeout: only the page's heartbeats
    // keep an idle connection open (a browser answers pings on its own).
    gateway = await Gateway.start(redis, {
      'server.demo': 'true',
      'websocket.heartbeat': HEARTBEAT,
      'websocket.heartbeat_interval_seconds': 1,
      'websocket.idle_timeout_seconds': IDLE_TIMEOUT_SECONDS,
      'websocket.ping_interval_seconds': 600,
      // As scripts/run.sh runs it: the demo facility keeps a history.
      'history.facilities': 'demo=1000',
    });
    browser = await launchChromium();
  });
  after(async () => {
    if (publisher) publisher.close();
    await stopAll(browser, gateway, redis);
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

  test('with history, a page gets what was published while the gateway was down', async () => {
    const page = await openDemo();
    assert.equal(await page.locator('#room .history').isHidden(), false);
    await page.locator('#room input').fill('before the outage');
    await page.locator('#room button').click();
    await waitForLine(page, 'before the outage');
    const before = await page.locator('#room .log li', { hasText: 'before the outage' })
      .getAttribute('data-position');
    assert.match(before, /^\d+-\d+$/);

    const restarted = gateway.restart(1500);
    await waitFor(async () => (await lines(page)).some((l) => l.startsWith('disconnected')),
      { what: 'the page to see the drop' });
    await publisher.publish('broadcast:demo', 'while the page was away', 1000);
    await restarted;
    await waitForLine(page, 'while the page was away', 'the missed message replayed');
    assert.ok((await lines(page)).includes(`connected, resuming after #${before}`));
    const missed = await page.locator('#room .log li', { hasText: 'while the page was away' })
      .getAttribute('data-position');
    assert.ok(positionAfter(missed, before), `${missed} after ${before}`);
    // Exactly once: the message before the outage is not repeated.
    assert.equal((await lines(page)).filter((l) => l === 'before the outage').length, 1);
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

// A page written for ws4redis, loading the client the gateway serves, through
// a 20 s outage of the gateway with heartbeats on.
describe('a ws4redis page in chromium across a gateway outage', () => {
  const OUTAGE_MS = 20000;
  let redis;
  let gateway;
  let browser;

  before(async () => {
    redis = await Redis.start();
    // The gateway's own idle heartbeat comes only every 30 s: what arrives
    // right after an open is the one sent at open.
    gateway = await Gateway.start(redis, {
      'websocket.heartbeat': HEARTBEAT,
      'websocket.heartbeat_interval_seconds': 30,
      'shutdown.drain_seconds': 0,
    });
    browser = await launchChromium();
  });
  after(() => stopAll(browser, gateway, redis));

  test('keeps its new connection, and send_message while disconnected does not throw',
    async () => {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(gateway.httpUrl('/healthz'));
      await page.addScriptTag({ url: gateway.httpUrl('/static/wsrelay.js') });
      await page.evaluate(({ uri, rawUri, heartbeat }) => {
        window.seen = { opens: 0, closes: [], messages: [], sendErrors: [], sent: [] };
        window.ws4redis = WS4Redis({
          uri,
          heartbeat_msg: heartbeat,
          heartbeat_interval: 1000,  // ws4redis.js: 5 s; shorter keeps the test short
          backoff_max: 2000,
          connected: () => { window.seen.opens += 1; },
          disconnected: (e) => { window.seen.closes.push(e.code); },
          receive_message: (m) => { window.seen.messages.push(m); },
        });
        // ws4redis.js counts the heartbeats it missed across a reconnect and
        // closes its new connection once more than 3 are counted, unless a
        // heartbeat arrives first: how long after each open does one arrive?
        window.model = { firstHeartbeatMs: [] };
        const connect = () => {
          const ws = new WebSocket(rawUri);
          let openedAt = null;
          ws.onopen = () => { openedAt = performance.now(); };
          ws.onmessage = (e) => {
            if (e.data === heartbeat && openedAt !== null) {
              window.model.firstHeartbeatMs.push(performance.now() - openedAt);
              openedAt = null;
            }
          };
          ws.onclose = () => setTimeout(connect, 250);
        };
        connect();
      }, {
        uri: gateway.url('/ws/outage?subscribe-broadcast&publish-broadcast&echo'),
        rawUri: gateway.url('/ws/outage?subscribe-broadcast'),
        heartbeat: HEARTBEAT,
      });
      await waitFor(() => page.evaluate(() => window.seen.opens === 1 &&
        window.model.firstHeartbeatMs.length === 1), { timeout: 15000, what: 'both open' });

      const restarted = gateway.restart(OUTAGE_MS);
      await waitFor(() => page.evaluate(() => window.seen.closes.length === 1),
        { timeout: 30000, what: 'the page to see the outage' });
      // Pages keep calling it while the gateway is away.
      await page.evaluate(() => {
        for (let i = 0; i < 3; ++i) {
          try {
            window.seen.sent.push(window.ws4redis.send_message(`while down ${i}`));
          } catch (e) {
            window.seen.sendErrors.push(String(e));
          }
        }
      });
      await restarted;
      await waitFor(() => page.evaluate(() => window.seen.opens === 2),
        { timeout: 15000, what: 'the page to reconnect' });
      // Every close so far: the outage's, and the failed attempts meanwhile.
      const closesBefore = await page.evaluate(() => window.seen.closes.length);
      await waitFor(() => page.evaluate(() => window.model.firstHeartbeatMs.length === 2),
        { timeout: 15000, what: 'a heartbeat after the new open' });

      // Five heartbeat intervals of the page: its own connection stays up.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const seen = await page.evaluate(() => window.seen);
      const model = await page.evaluate(() => window.model);
      assert.deepEqual(seen.sendErrors, []);
      assert.deepEqual(seen.sent, [false, false, false]);
      assert.equal(seen.opens, 2);
      assert.equal(seen.closes[0], 1001);
      assert.equal(seen.closes.length, closesBefore, `closes: ${seen.closes}`);
      assert.equal(await page.evaluate(() => window.ws4redis.get_state()), 1);
      // The heartbeat sent at open arrives at once, well before a page's
      // first heartbeat (5 s with ws4redis.js), not 30 s later.
      assert.ok(model.firstHeartbeatMs[1] < 1000, `first heartbeat after ${model.firstHeartbeatMs[1]} ms`);
      // And the page is live: its message comes back (echo).
      await page.evaluate(() => window.ws4redis.send_message('after the outage'));
      await waitFor(() => page.evaluate(() => window.seen.messages.includes('after the outage')),
        { what: 'the echo after the outage' });
      assert.deepEqual(errors, []);
      await page.close();
    });
});

describe('the client resuming with history in chromium', () => {
  let redis;
  let gateway;
  let browser;
  let publisher;

  before(async () => {
    redis = await Redis.start();
    gateway = await Gateway.start(redis, { 'history.facilities': 'feed=1000' });
    publisher = new HistoryPublisher(redis.port);
    browser = await launchChromium();
  });
  after(async () => {
    if (publisher) publisher.close();
    await stopAll(browser, gateway, redis);
  });

  test('every message once, in order, across dropped sockets and gateway restarts', async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(gateway.httpUrl('/healthz'));
    await page.addScriptTag({ url: '/static/wsrelay.js' });
    await page.evaluate(() => {
      window.got = [];
      window.opens = 0;
      window.relay = new WsRelay({ url: '/ws/feed?subscribe-broadcast', history: true,
        backoff_base: 50, backoff_max: 500 });
      window.relay.on('open', () => { window.opens += 1; });
      window.relay.on('message', (e) => window.got.push(e.data));
    });
    const opens = (n, what) => waitFor(() => page.evaluate((k) => window.opens === k, n),
      { timeout: 15000, what });
    await opens(1, 'the page to connect');
    const total = 300;
    for (let n = 1; n <= total; ++n) {
      await publisher.publish('broadcast:feed', `m${n}`, 1000);
      if (n === 60) await page.evaluate(() => window.relay.ws_.close());
      if (n === 100) await opens(2, 'the reconnect after the dropped socket');
      if (n === 150) await gateway.restart();
      if (n === 200) await opens(3, 'the reconnect after a restart');
      if (n === 250) await gateway.restart(300);
    }
    await opens(4, 'the reconnect after the second restart');
    // On a timeout, fall through to the comparison: its diff names the
    // missing positions, and the gateway's log says what it replayed.
    let arrived = true;
    await waitFor(() => page.evaluate((k) => window.got.length >= k, total),
      { timeout: 15000, what: `${total} messages on the page` }).catch(() => { arrived = false; });
    const got = await page.evaluate(() => window.got);
    if (!arrived) {
      console.log(`# ${got.length} of ${total} arrived; gateway log since its last start:\n`
        + gateway.child.log());
    }
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => `m${i + 1}`));
    assert.ok(arrived, `${total} messages on the page within 15 s`);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
