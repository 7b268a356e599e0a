'use strict';
// The classic Node.js relay, a peer in wsrelay's benchmark (bench/run_matrix.sh).
// What people write when they need "Redis pub/sub to browsers" in Node: the
// `ws` server, the `redis` client, one shared Redis subscription per channel,
// and a loop calling ws.send() for every socket on it. Same URL and channel
// names as wsrelay: /ws/<facility>?subscribe-broadcast <- PUBLISH broadcast:<facility>.
//
//   node relay.js --listen 127.0.0.1:0 --redis redis://127.0.0.1:6379 --ready-file /tmp/f
// The ready file receives "host:port\n" once listening (port 0 = any free port).
const fs = require('fs');
const http = require('http');
const { WebSocketServer } = require('ws');
const { createClient } = require('redis');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const listen = option('--listen', '127.0.0.1:8080');
const redisUrl = option('--redis', 'redis://127.0.0.1:6379');
const readyFile = option('--ready-file', '');
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

async function main() {
  const subscriber = createClient({ url: redisUrl });
  subscriber.on('error', (err) => console.error('redis:', err.message));
  await subscriber.connect();

  const channels = new Map(); // channel -> Set of sockets
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

  const server = http.createServer((req, res) => {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('Client does not wish to upgrade to a websocket\n');
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://relay');
    const match = /^\/ws\/([A-Za-z0-9_.-]{1,128})$/.exec(url.pathname);
    const flags = [...url.searchParams.keys()].map((k) => k.toLowerCase());
    if (!match || !flags.includes('subscribe-broadcast')) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const channel = 'broadcast:' + match[1];
    wss.handleUpgrade(req, socket, head, (ws) => {
      let sockets = channels.get(channel);
      if (!sockets) {
        sockets = new Set();
        channels.set(channel, sockets);
        const set = sockets;
        subscriber.subscribe(channel, (message) => {
          for (const s of set) s.send(message);
        });
      }
      sockets.add(ws);
      ws.on('error', () => {});
      ws.on('close', () => {
        sockets.delete(ws);
        if (sockets.size === 0 && channels.get(channel) === sockets) {
          channels.delete(channel);
          subscriber.unsubscribe(channel).catch(() => {});
        }
      });
    });
  });
  server.listen(port, host, () => {
    const addr = server.address();
    console.log(`node-relay: ws://${addr.address}:${addr.port}/ws/<facility>?subscribe-broadcast`);
    if (readyFile) fs.writeFileSync(readyFile, `${addr.address}:${addr.port}\n`);
  });
  const stop = () => {
    server.close();
    subscriber.disconnect().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error('node-relay:', err);
  process.exit(1);
});
