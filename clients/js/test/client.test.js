// wsrelay.js against a real wsrelay daemon and a real redis-server.
// Run: WSRELAY_BINARY=build/wsrelay node --test clients/js/test/
'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { WS4Redis, WsRelay } = require('../wsrelay.js');
const { Gateway, HistoryPublisher, Redis, recordingWebSocket, tool, waitFor } =
  require('./support.js');

const WebSocket = tool('ws');

const HEARTBEAT = '--heartbeat--';

// Small backoff so reconnects happen within a test's deadline; random = 1
// makes the jitter its ceiling, so the delays are exact.
const FAST = { WebSocket, backoff_base: 40, backoff_max: 400, random: () => 0.999999 };

// A WS4Redis client whose callbacks append to arrays the tests look at. It
// knows the gateway's heartbeat, as a page does: otherwise the gateway's
// idle heartbeats would be ordinary messages to it.
function ws4redis(options) {
  const seen = { messages: [], connected: 0, connecting: 0, disconnected: [] };
  const client = WS4Redis({
    ...FAST,
    heartbeat_msg: HEARTBEAT,
    connecting: () => seen.connecting++,
    connected: () => seen.connected++,
    receive_message: (m) => seen.messages.push(m),
    disconnected: (e) => seen.disconnected.push(e),
    ...options,
  });
  return { client, seen };
}

// A WsRelay client with its events recorded.
function relay(options) {
  const seen = { messages: [], open: 0, connecting: 0, close: [], reconnecting: [] };
  const client = new WsRelay({ ...FAST, heartbeat: HEARTBEAT, ...options });
  client.on('connecting', () => seen.connecting++);
  client.on('open', () => seen.open++);
  client.on('message', (e) => seen.messages.push(e.data));
  client.on('close', (e) => seen.close.push(e));
  client.on('reconnecting', (e) => seen.reconnecting.push(e));
  return { client, seen };
}

describe('wsrelay.js with a real gateway', () => {
  let redis;
  let gateway;
  const clients = [];
  const track = (c) => { clients.push(c.client); return c; };

  before(async () => {
    redis = await Redis.start();
    gateway = await Gateway.start(redis, {
      'websocket.heartbeat': HEARTBEAT,
      'websocket.heartbeat_interval_seconds': 1,
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    if (gateway) await gateway.stop();
    if (redis) await redis.stop();
  });

  test('receives what an application publishes with redis PUBLISH', async () => {
    const { client, seen } = track(ws4redis({ uri: gateway.url('/ws/news?subscribe-broadcast') }));
    assert.equal(client.get_state(), WS4Redis.CONNECTING);
    await waitFor(() => seen.connected === 1, { what: 'connected' });
    assert.equal(client.get_state(), WS4Redis.OPEN);
    assert.equal(seen.connecting, 1);
    await waitFor(async () => (await gateway.subscribers('broadcast:news')) === 1);
    assert.equal(await redis.publish('broadcast:news', 'hello from redis'), 1);
    await waitFor(() => seen.messages.length === 1, { what: 'the message' });
    assert.deepEqual(seen.messages, ['hello from redis']);
  });

  test('send_message reaches another client on the same facility', async () => {
    const url = gateway.url('/ws/chat?subscribe-broadcast&publish-broadcast');
    const a = track(ws4redis({ uri: url }));
    const b = track(ws4redis({ uri: url }));
    await waitFor(() => a.seen.connected && b.seen.connected, { what: 'both connected' });
    await waitFor(async () => (await gateway.subscribers('broadcast:chat')) === 1);
    a.client.send_message('hi from a');
    await waitFor(() => b.seen.messages.length === 1, { what: 'b to receive' });
    assert.deepEqual(b.seen.messages, ['hi from a']);
    assert.deepEqual(a.seen.messages, [], 'no echo without the echo flag');
  });

  test('heartbeats are answered but never reach receive_message', async () => {
    const frames = [];
    const { seen } = track(ws4redis({
      uri: gateway.url('/ws/beats?subscribe-broadcast'),
      heartbeat_interval: 100,
      WebSocket: recordingWebSocket(WebSocket, frames),
    }));
    await waitFor(() => seen.connected === 1);
    await waitFor(async () => (await gateway.subscribers('broadcast:beats')) === 1);
    await redis.publish('broadcast:beats', 'before');
    // The gateway answers each heartbeat: several must have arrived.
    await waitFor(() => frames.filter((f) => f === HEARTBEAT).length >= 3,
      { what: 'three heartbeat answers' });
    await redis.publish('broadcast:beats', 'after');
    await waitFor(() => frames.includes('after'));
    assert.deepEqual(seen.messages, ['before', 'after']);
    assert.equal(seen.disconnected.length, 0, 'answered heartbeats keep the connection');
  });

  test('close() stops for good; a server close of another kind reconnects', async () => {
    // Both start together; the control is closed by the gateway (1009: too
    // big) and must come back, while the one closed by close() must not.
    const url = gateway.url('/ws/closing?subscribe-broadcast&publish-broadcast');
    const closed = track(ws4redis({ uri: url }));
    const control = track(relay({ url }));
    await waitFor(() => closed.seen.connected === 1 && control.seen.open === 1);
    closed.client.close();
    control.client.send('x'.repeat(70000));
    await waitFor(() => control.seen.open === 2, { what: 'the control to reconnect' });
    assert.equal(control.seen.close[0].code, 1009);
    assert.equal(closed.seen.connecting, 1, 'no new attempt after close()');
    assert.equal(closed.client.get_state(), WS4Redis.CLOSED);
    assert.equal(closed.seen.disconnected.length, 1);
  });

  test('publishing without permission (1008) is not retried', async () => {
    // Sending without a publish flag is refused; the control is closed by
    // the gateway with 1009 at the same moment and comes back.
    const refused = track(relay({ url: gateway.url('/ws/policy?subscribe-broadcast') }));
    const control = track(relay({ url: gateway.url('/ws/policy?publish-broadcast') }));
    await waitFor(() => refused.seen.open === 1 && control.seen.open === 1);
    refused.client.send('not allowed');
    control.client.send('x'.repeat(70000));
    await waitFor(() => control.seen.open === 2, { what: 'the control to reconnect' });
    await waitFor(() => refused.seen.close.length === 1);
    assert.equal(refused.seen.close[0].code, 1008);
    assert.equal(refused.seen.close[0].reason, 'publishing is not allowed on this connection');
    assert.equal(refused.seen.close[0].willReconnect, false);
    assert.equal(refused.seen.connecting, 1);
    assert.equal(refused.seen.reconnecting.length, 0);
    assert.equal(refused.client.readyState, WsRelay.CLOSED);
  });

  test('the publish-rate close (1008) is retried, as ws4redis.js retried every close', async () => {
    const strict = await Gateway.start(redis, {
      'websocket.heartbeat': HEARTBEAT,
      'websocket.publish_rate': 3,
      'websocket.publish_burst': 3,
    });
    try {
      const c = track(ws4redis({ uri: strict.url('/ws/rate?publish-broadcast') }));
      await waitFor(() => c.seen.connected === 1);
      for (let i = 0; i < 10; ++i) c.client.send_message(`m${i}`);
      await waitFor(() => c.seen.connected === 2, { what: 'the client to come back' });
      assert.equal(c.seen.disconnected[0].code, 1008);
      assert.equal(c.seen.disconnected[0].reason, 'publish rate limit exceeded');
      assert.equal(c.seen.disconnected[0].willReconnect, true);
      c.client.close();
    } finally {
      await strict.stop();
    }
  });

  test('send_message while disconnected drops the message without throwing', async () => {
    const c = track(ws4redis({ uri: gateway.url('/ws/quiet?publish-broadcast') }));
    assert.equal(c.client.send_message('too early'), false);  // not open yet
    await waitFor(() => c.seen.connected === 1);
    assert.equal(c.client.send_message('now'), true);
    c.client.close();
    assert.equal(c.client.send_message('too late'), false);
  });

  test('which closes are permanent', () => {
    const permanent = WsRelay.is_permanent_close;
    assert.equal(permanent(1008, 'publishing is not allowed on this connection'), true);
    for (const code of [1002, 1003, 1007]) assert.equal(permanent(code, ''), true);
    assert.equal(permanent(1008, 'publish rate limit exceeded'), false);
    assert.equal(permanent(1008, 'subscription refused by Redis (NOPERM)'), false);
    for (const code of [1000, 1001, 1006, 1009, 1011, 1013]) assert.equal(permanent(code, ''), false);
  });
});

describe('wsrelay.js across gateway restarts and stalls', () => {
  let redis;
  let gateway;
  const clients = [];

  before(async () => {
    redis = await Redis.start();
    gateway = await Gateway.start(redis, { 'websocket.heartbeat': HEARTBEAT });
  });
  after(async () => {
    for (const c of clients) c.close();
    if (gateway) await gateway.stop();
    if (redis) await redis.stop();
  });

  test('reconnects with growing backoff while the gateway is down, and resets after open', async () => {
    const c = relay({ url: gateway.url('/ws/restart?subscribe-broadcast') });
    clients.push(c.client);
    const closedAt = [];
    const connectingAt = [];
    c.client.on('close', () => closedAt.push(Date.now()));
    c.client.on('connecting', () => connectingAt.push(Date.now()));
    await waitFor(() => c.seen.open === 1);

    await gateway.child.stop();
    // Attempts 1..4 fail against a closed port: delays 40, 120, 280, 400 (cap).
    await waitFor(() => c.seen.reconnecting.length >= 4, { what: 'four attempts' });
    const delays = c.seen.reconnecting.slice(0, 4).map((e) => e.delay);
    assert.deepEqual(c.seen.reconnecting.slice(0, 4).map((e) => e.attempt), [1, 2, 3, 4]);
    assert.deepEqual(delays, [39, 119, 279, 399]);
    // Each new attempt waited at least its announced delay after the close.
    for (let i = 0; i < 3; ++i) {
      assert.ok(connectingAt[i + 1] - closedAt[i] >= delays[i] - 2,
        `attempt ${i + 1} waited ${connectingAt[i + 1] - closedAt[i]} ms, want >= ${delays[i]}`);
    }
    assert.equal(c.client.readyState === WsRelay.CLOSED ||
                 c.client.readyState === WsRelay.CONNECTING, true);

    await gateway.launch(`127.0.0.1:${gateway.port}`);
    await waitFor(() => c.seen.open === 2, { what: 'reconnected' });
    await waitFor(async () => (await gateway.subscribers('broadcast:restart')) === 1);
    await redis.publish('broadcast:restart', 'after the restart');
    await waitFor(() => c.seen.messages.includes('after the restart'));

    // A successful open resets the backoff: the next drop starts at attempt 1.
    const before = c.seen.reconnecting.length;
    await gateway.restart();
    await waitFor(() => c.seen.open === 3, { what: 'reconnected again' });
    assert.equal(c.seen.reconnecting[before].attempt, 1);
    assert.equal(c.seen.reconnecting[before].delay, 39);
  });

  test('three unanswered heartbeats drop a stalled connection and reconnect', async () => {
    const c = relay({
      url: gateway.url('/ws/stall?subscribe-broadcast'),
      heartbeat_interval: 100,
    });
    clients.push(c.client);
    await waitFor(() => c.seen.open === 1);
    // A stopped gateway keeps the TCP connection up but answers nothing:
    // what a dead NAT mapping looks like from the browser.
    gateway.child.signal('SIGSTOP');
    try {
      await waitFor(() => c.seen.close.length === 1, { what: 'the heartbeat timeout' });
    } finally {
      gateway.child.signal('SIGCONT');
    }
    assert.equal(c.seen.close[0].code, 1006);
    assert.equal(c.seen.close[0].reason, 'heartbeat timeout');
    assert.equal(c.seen.close[0].willReconnect, true);
    await waitFor(() => c.seen.open === 2, { what: 'reconnected after the stall' });
    // The old session may still hold the Redis subscription while the new
    // one is being added, so publish until the new one gets it.
    await waitFor(async () => {
      await redis.publish('broadcast:stall', 'alive');
      return c.seen.messages.includes('alive');
    }, { interval: 50, what: 'a message after the stall' });
  });
});

describe('wsrelay.js with history: resume by itself', () => {
  let redis;
  let gateway;
  let publisher;
  const clients = [];

  before(async () => {
    redis = await Redis.start();
    gateway = await Gateway.start(redis, { 'history.facilities': 'chat=1000,tiny=3' });
    publisher = new HistoryPublisher(redis.port);
  });
  after(async () => {
    for (const c of clients) c.close();
    publisher.close();
    if (gateway) await gateway.stop();
    if (redis) await redis.stop();
  });

  test('every message once, in order, across a dropped socket and a gateway restart', async () => {
    const c = relay({ url: gateway.url('/ws/chat?subscribe-broadcast'), history: true });
    clients.push(c.client);
    const positions = [];
    c.client.on('message', (e) => positions.push(e.position));
    await waitFor(() => c.seen.open === 1, { what: 'open' });
    for (let n = 1; n <= 60; ++n) {
      await publisher.publish('broadcast:chat', String(n), 1000);
      if (n === 20) c.client.ws_.close();  // the socket drops
      if (n === 30) await waitFor(() => c.seen.open === 2, { what: 'the reconnect' });
      if (n === 40) await gateway.restart();  // the gateway goes away and back
    }
    await waitFor(() => c.seen.open === 3, { what: 'the reconnect after the restart' });
    await waitFor(() => c.seen.messages.length >= 60, { timeout: 15000, what: '60 messages' });
    assert.deepEqual(c.seen.messages, Array.from({ length: 60 }, (_, i) => String(i + 1)));
    for (let i = 1; i < positions.length; ++i)
      assert.ok(WsRelay.position_after(positions[i], positions[i - 1]));
    assert.equal(c.client.position, positions[positions.length - 1]);
  });

  test('a position older than the history gives a reset event, then live messages', async () => {
    await publisher.publish('broadcast:tiny', 'old', 3);
    const first = relay({ url: gateway.url('/ws/tiny?subscribe-broadcast'), history: true });
    clients.push(first.client);
    await waitFor(() => first.seen.messages.length === 1, { what: 'the last entry at open' });
    const since = first.client.position;
    first.client.close();
    for (let n = 0; n < 5; ++n) await publisher.publish('broadcast:tiny', `missed ${n}`, 3);
    const c = relay({ url: gateway.url('/ws/tiny?subscribe-broadcast'), history: true, since });
    clients.push(c.client);
    let resets = 0;
    c.client.on('reset', () => { resets += 1; });
    await waitFor(() => resets === 1, { what: 'the reset event' });
    assert.equal(c.client.position, null);
    await publisher.publish('broadcast:tiny', 'live', 3);
    await waitFor(() => c.seen.messages.length === 1, { what: 'the live message' });
    assert.deepEqual(c.seen.messages, ['live']);
  });

  test('envelopes: positions, messages without one, binary frames', () => {
    assert.deepEqual(WsRelay.parse_envelope('12-3 a b'), { position: '12-3', data: 'a b' });
    assert.deepEqual(WsRelay.parse_envelope('- plain'), { position: '-', data: 'plain' });
    assert.equal(WsRelay.parse_envelope('nospace'), null);
    const bytes = new Uint8Array([0x31, 0x2d, 0x30, 0x20, 0xff, 0x00]).buffer;
    const parsed = WsRelay.parse_envelope(bytes);
    assert.equal(parsed.position, '1-0');
    assert.deepEqual([...new Uint8Array(parsed.data)], [0xff, 0x00]);
    assert.ok(WsRelay.position_after('10-0', '9-9'));
    assert.ok(WsRelay.position_after('10-10', '10-9'));
    assert.ok(!WsRelay.position_after('10-9', '10-9'));
  });
});

describe('backoff rule', () => {
  test('full jitter under (2^k - 1) * base, capped at 30 s by default', () => {
    const at = (k, r) => WsRelay.backoff_delay(k, 1000, 30000, () => r);
    assert.equal(at(1, 0.999999), 999);
    assert.equal(at(2, 0.999999), 2999);
    assert.equal(at(4, 0.999999), 14999);
    assert.equal(at(5, 0.999999), 29999);
    assert.equal(at(50, 0.999999), 29999);
    assert.equal(at(3, 0), 0);
    assert.equal(at(3, 0.5), 3500);
  });
});

describe('module forms', () => {
  test('the ES module exports the same constructors', async () => {
    const esm = await import('../wsrelay.mjs');
    assert.equal(esm.WsRelay, WsRelay);
    assert.equal(esm.WS4Redis, WS4Redis);
    assert.equal(esm.default, WsRelay);
  });

  test('a plain script defines the globals', () => {
    const fs = require('node:fs');
    const vm = require('node:vm');
    const sandbox = {};
    sandbox.globalThis = sandbox;
    vm.runInNewContext(fs.readFileSync(require.resolve('../wsrelay.js'), 'utf8'), sandbox);
    assert.equal(typeof sandbox.WS4Redis, 'function');
    assert.equal(typeof sandbox.WsRelay, 'function');
  });

  test('a uri is required, as in ws4redis.js', () => {
    assert.throws(() => WS4Redis({}), /No Websocket URI/);
  });
});
