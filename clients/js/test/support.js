// Real processes for the client tests: a redis-server and the wsrelay daemon
// (WSRELAY_BINARY, default ../../build/wsrelay), each on a free loopback port,
// each stopped by PID. Nothing here sleeps to synchronise: waitFor() polls a
// condition under a deadline.
'use strict';

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const BINARY = process.env.WSRELAY_BINARY ||
  path.resolve(__dirname, '..', '..', '..', 'build', 'wsrelay');

// The test tools come from clients/js/node_modules (npm ci there, which
// scripts/install-deps.sh does); say so instead of "Cannot find module".
function tool(name) {
  try {
    return require(name);
  } catch (err) {
    throw new Error(`${name} is not installed: run scripts/install-deps.sh ` +
      `(or npm ci in clients/js) first (${err.message})`);
  }
}

async function waitFor(condition, { timeout = 10000, interval = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 10000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

// A child process with its output kept in a file (shown when a test fails).
class Child {
  constructor(file, args, logName) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrelay-js-'));
    this.logFile = path.join(this.dir, logName);
    const out = fs.openSync(this.logFile, 'a');
    // wsrelay refuses unknown WSRELAY_* variables, such as WSRELAY_BINARY.
    const env = Object.fromEntries(Object.entries(process.env)
      .filter(([name]) => !name.startsWith('WSRELAY_')));
    this.proc = spawn(file, args, { stdio: ['ignore', out, out], env });
    fs.closeSync(out);
    this.exited = false;
    this.exit = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      this.exited = true;
      resolve({ code, signal });
    }));
  }
  get pid() { return this.proc.pid; }
  log() {
    try { return fs.readFileSync(this.logFile, 'utf8'); } catch { return ''; }
  }
  signal(name) {
    if (!this.exited) process.kill(this.pid, name);
  }
  // SIGCONT first: a stopped process does not act on SIGTERM. The log goes
  // with it unless WSRELAY_TEST_KEEP_FILES is set (for post-mortems).
  async stop() {
    if (!this.exited) {
      this.signal('SIGCONT');
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), 5000);
      await this.exit;
      clearTimeout(timer);
    }
    if (!process.env.WSRELAY_TEST_KEEP_FILES) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

class Redis {
  static async start() {
    for (let attempt = 0; attempt < 3; ++attempt) {
      const port = await freePort();
      const child = new Child('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no', '--daemonize', 'no'], 'redis.log');
      const redis = new Redis(port, child);
      const up = await waitFor(async () => child.exited ||
        (await redis.cli('INFO', 'server').catch(() => '')).includes(`process_id:${child.pid}\r`),
      { what: 'redis-server to answer' });
      if (up === true && !child.exited) return redis;
      await child.stop();
    }
    throw new Error('redis-server did not start');
  }
  constructor(port, child) {
    this.port = port;
    this.child = child;
  }
  url() { return `redis://127.0.0.1:${this.port}`; }
  cli(...args) { return run('redis-cli', ['-p', String(this.port), ...args]); }
  async publish(channel, message) {
    return Number((await this.cli('PUBLISH', channel, message)).trim());
  }
  stop() { return this.child.stop(); }
}

// The daemon. `settings` are `--set` pairs; the port is chosen by the OS the
// first time and kept across restart() so clients reconnect to the same URL.
class Gateway {
  static async start(redis, settings = {}) {
    const gateway = new Gateway(redis, settings);
    await gateway.launch('127.0.0.1:0');
    return gateway;
  }
  constructor(redis, settings) {
    this.redis = redis;
    this.settings = settings;
    this.child = null;
    this.port = 0;
  }
  async launch(listen) {
    const readyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrelay-ready-'));
    const readyFile = path.join(readyDir, 'ready');
    const args = ['--listen', listen, '--threads', '1', '--set', `server.ready_file=${readyFile}`];
    if (this.redis) args.push('--redis', this.redis.url());
    for (const [key, value] of Object.entries(this.settings)) args.push('--set', `${key}=${value}`);
    this.child = new Child(BINARY, args, 'wsrelay.log');
    const child = this.child;
    const ready = await waitFor(() => child.exited || fs.existsSync(readyFile),
      { what: 'wsrelay to listen' });
    if (child.exited || ready !== true) throw new Error(`wsrelay did not start:\n${child.log()}`);
    const text = fs.readFileSync(readyFile, 'utf8').trim();
    fs.rmSync(readyDir, { recursive: true, force: true });
    this.port = Number(text.slice(text.lastIndexOf(':') + 1));
    if (this.redis) {
      await waitFor(async () => (await this.get('/readyz')).status === 200,
        { what: 'wsrelay to reach Redis' });
    }
  }
  // Stops the process and starts it again on the same port, after it has
  // been away for `downMs` (the outage a test is about, not a wait for
  // something to happen).
  async restart(downMs = 0) {
    await this.child.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.launch(`127.0.0.1:${this.port}`);
  }
  url(pathAndQuery) { return `ws://127.0.0.1:${this.port}${pathAndQuery}`; }
  httpUrl(pathAndQuery) { return `http://127.0.0.1:${this.port}${pathAndQuery}`; }
  async get(pathAndQuery, headers = {}) {
    const response = await fetch(this.httpUrl(pathAndQuery), { headers });
    return { status: response.status, headers: response.headers, body: await response.text() };
  }
  // Subscribers the gateway holds on `channel`, as Redis sees them.
  async subscribers(channel) {
    const reply = await this.redis.cli('PUBSUB', 'NUMSUB', channel);
    return Number(reply.trim().split('\n')[1]);
  }
  stop() { return this.child ? this.child.stop() : Promise.resolve(); }
}

// Records every frame a socket receives, below the client (heartbeats too).
function recordingWebSocket(BaseWebSocket, frames) {
  return class RecordingWebSocket extends BaseWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => frames.push(e.data));
    }
  };
}

// The history publish script (src/wire/history_script.cpp), as applications copy it.
const HISTORY_SCRIPT = (() => {
  const source = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'src', 'wire',
    'history_script.cpp'), 'utf8');
  const start = source.indexOf('R"lua(') + 'R"lua('.length;
  return source.slice(start, source.indexOf(')lua"', start));
})();

// Publishes with history, one message at a time, over a plain socket (the
// marker holds NUL bytes, which redis-cli's arguments cannot). Resolves with
// PUBLISH's count; rejects on an error reply or a dropped connection.
class HistoryPublisher {
  constructor(port) {
    this.port = port;
    this.socket = null;
  }
  connect_() {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.once('connect', () => { this.socket = socket; resolve(); });
      socket.once('error', reject);
    });
  }
  async publish(channel, message, entries = 100000, ttl = 600) {
    if (!this.socket) await this.connect_();
    const args = ['EVAL', HISTORY_SCRIPT, '3', `history:${channel}`, 'history:clock', channel,
      message, String(entries), String(ttl), '0', '\0wsrelay-history\0'];
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
    const socket = this.socket;
    return new Promise((resolve, reject) => {
      let reply = '';
      const fail = (err) => { cleanup(); this.socket = null; socket.destroy(); reject(err); };
      const onData = (chunk) => {
        reply += chunk.toString('latin1');
        if (!reply.endsWith('\r\n')) return;
        cleanup();
        if (reply.startsWith(':')) resolve(Number(reply.slice(1)));
        else fail(new Error(`redis: ${reply.trim()}`));
      };
      const onClose = () => fail(new Error('redis connection closed'));
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.off('error', onClose);
      };
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('error', onClose);
      socket.write(parts.join(''));
    });
  }
  close() { if (this.socket) this.socket.destroy(); this.socket = null; }
}

module.exports = { BINARY, Gateway, HistoryPublisher, Redis, recordingWebSocket, tool, waitFor,
  freePort };
