/*
 * wsrelay.js: the browser client of the wsrelay gateway (WebSocket <-> Redis
 * pub/sub). No dependencies. Load it with a plain <script> (globals WS4Redis
 * and WsRelay), require() it, or import wsrelay.mjs. API: README.md here.
 *
 * What it guarantees:
 * - ws4redis.js's calling convention: WS4Redis({uri, connecting, connected,
 *   receive_message, disconnected, heartbeat_msg}) -> {send_message,
 *   get_state, close}.
 * - Reconnects after any close except an explicit close() and the closes a
 *   retry cannot cure (is_permanent_close: the client's own malformed data,
 *   or publishing on a connection without a publish flag), waiting a random
 *   time in [0, min(30 s, (2^k - 1) s)) before attempt k (ws4redis's rule:
 *   "full jitter", so a restarted gateway is not hit by every browser at
 *   once). k starts again at 1 after a successful open.
 * - send_message() while not connected drops the message without throwing,
 *   as ws4redis.js did (WsRelay.send() throws).
 * - With heartbeat_msg: sends it every 5 s; after 3 sent without an answer the
 *   connection is dropped and reconnected. Heartbeats are never delivered as
 *   messages.
 * - With history: true (a facility with history, docs/history.md): asks for
 *   positions, keeps the last one received, and reconnects with
 *   since=<position>, so no message is lost or repeated across reconnects;
 *   a 'reset' event says the gap was no longer in the history.
 */
(function (root, factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  } else {
    root.WS4Redis = api.WS4Redis;
    root.WsRelay = api.WsRelay;
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this,
   function () {
  'use strict';

  // WebSocket.readyState values, which get_state() returns.
  var CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;
  // The gateway's 1008 for data sent on a connection without a publish
  // flag: the same page would be refused again after any reconnect.
  var NOT_ALLOWED_REASON = 'publishing is not allowed on this connection';

  var DEFAULTS = {
    heartbeat: null,            // the gateway's websocket.heartbeat; null = off
    heartbeat_interval: 5000,   // ms between heartbeats
    max_missed_heartbeats: 3,   // sent without an answer before reconnecting
    backoff_base: 1000,         // ms: attempt k waits up to (2^k - 1) * backoff_base
    backoff_max: 30000,         // ms: cap of that wait
    protocols: undefined,       // Sec-WebSocket-Protocol offer
    binary_type: 'arraybuffer',
    WebSocket: undefined,       // constructor; default: the global WebSocket
    random: Math.random,        // jitter source, in [0, 1)
    history: false,             // ask for positions and resume with since=
    since: null,                // with history: the position to resume from at the first connect
  };

  var POSITION = /^[0-9]{1,20}-[0-9]{1,20}$/;

  // Positions are "<ms>-<seq>"; compared as numbers, part by part.
  function position_after(a, b) {
    var pa = a.split('-'), pb = b.split('-');
    if (pa[0].length !== pb[0].length) return pa[0].length > pb[0].length;
    if (pa[0] !== pb[0]) return pa[0] > pb[0];
    if (pa[1].length !== pb[1].length) return pa[1].length > pb[1].length;
    return pa[1] > pb[1];
  }

  // The envelope of a connection with positions: "<position> <message>", or
  // "- <message>" for one without a position. The message keeps the frame's
  // type: a string, or bytes after the first space of an ArrayBuffer.
  function parse_envelope(data) {
    if (typeof data === 'string') {
      var space = data.indexOf(' ');
      if (space < 0) return null;
      return { position: data.slice(0, space), data: data.slice(space + 1) };
    }
    if (typeof ArrayBuffer !== 'undefined' && data instanceof ArrayBuffer) {
      var bytes = new Uint8Array(data);
      var end = Math.min(bytes.length, 42);
      for (var i = 0; i < end; ++i) {
        if (bytes[i] !== 0x20) continue;
        return { position: String.fromCharCode.apply(null, bytes.subarray(0, i)),
                 data: data.slice(i + 1) };
      }
    }
    return null;
  }

  // Closes a reconnect cannot cure: the page sent malformed data (1002,
  // 1003, 1007) or published without permission. Every other close is
  // retried: a rate-limit 1008, a refused subscription (an operator may fix
  // the ACL), 1009, 1011, 1013, a restart (1001) or a dropped link (1006).
  function is_permanent_close(code, reason) {
    if (code === 1002 || code === 1003 || code === 1007) return true;
    return code === 1008 && reason === NOT_ALLOWED_REASON;
  }

  // The wait before reconnect attempt k (1, 2, ...).
  function backoff_delay(attempt, base, max, random) {
    var ceiling = Math.min(max, (Math.pow(2, Math.min(attempt, 30)) - 1) * base);
    return Math.floor(random() * ceiling);
  }

  // A path ("/ws/chat?subscribe-broadcast") is resolved against the page, with
  // ws: for http: pages and wss: for https: pages.
  function resolve_url(url) {
    if (/^wss?:\/\//i.test(url)) return url;
    var loc = typeof location !== 'undefined' ? location : null;
    if (!loc) throw new Error('wsrelay: a relative url needs a page location: ' + url);
    var absolute = new URL(url, loc.href);
    absolute.protocol = absolute.protocol === 'https:' ? 'wss:' : 'ws:';
    return absolute.href;
  }

  // The connection and its policy. Events: open, message, close, reconnecting.
  function WsRelay(options) {
    if (!(this instanceof WsRelay)) return new WsRelay(options);
    options = options || {};
    var url = options.url || options.uri;
    if (!url) throw new Error('wsrelay: no url in options');
    this.options = {};
    for (var key in DEFAULTS) {
      this.options[key] = options[key] !== undefined ? options[key] : DEFAULTS[key];
    }
    this.url = resolve_url(url);
    // With history: the last position received, sent as since= on reconnect.
    this.position = this.options.history && this.options.since ? String(this.options.since) : null;
    this.attempt = 0;            // reconnect attempts since the last open
    this.listeners_ = {};
    this.ws_ = null;
    this.timer_ = null;          // pending reconnect
    this.heartbeat_timer_ = null;
    this.missed_heartbeats_ = 0;
    this.closed_ = false;        // close() called, or a permanent close: no reconnect
    var self = this;
    // Listeners added right after construction see the first events.
    this.start_ = setTimeout(function () {
      self.start_ = null;
      self.connect_();
    }, 0);
  }

  WsRelay.CONNECTING = CONNECTING;
  WsRelay.OPEN = OPEN;
  WsRelay.CLOSING = CLOSING;
  WsRelay.CLOSED = CLOSED;
  WsRelay.backoff_delay = backoff_delay;
  WsRelay.is_permanent_close = is_permanent_close;
  WsRelay.parse_envelope = parse_envelope;
  WsRelay.position_after = position_after;

  WsRelay.prototype.addEventListener = function (type, listener) {
    (this.listeners_[type] = this.listeners_[type] || []).push(listener);
    return this;
  };
  WsRelay.prototype.removeEventListener = function (type, listener) {
    var list = this.listeners_[type] || [];
    var i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  };
  WsRelay.prototype.on = WsRelay.prototype.addEventListener;
  WsRelay.prototype.off = WsRelay.prototype.removeEventListener;

  WsRelay.prototype.emit_ = function (type, event) {
    event.type = type;
    event.target = this;
    var list = (this.listeners_[type] || []).slice();
    for (var i = 0; i < list.length; ++i) {
      // One failing listener must not stop the others or the reconnect logic.
      try {
        list[i].call(this, event);
      } catch (err) {
        setTimeout(function () { throw err; }, 0);
      }
    }
  };

  // WebSocket.readyState of the current socket; CLOSED while waiting to
  // reconnect (as ws4redis.js) and after close().
  Object.defineProperty(WsRelay.prototype, 'readyState', {
    get: function () {
      if (this.ws_) return this.ws_.readyState;
      return this.start_ !== null ? CONNECTING : CLOSED;
    },
  });

  WsRelay.prototype.send = function (data) {
    if (!this.ws_ || this.ws_.readyState !== OPEN) {
      throw new Error('wsrelay: not connected (readyState ' + this.readyState + ')');
    }
    this.ws_.send(data);
  };

  // Closes for good: no reconnect after this.
  WsRelay.prototype.close = function (code, reason) {
    this.closed_ = true;
    if (this.start_ !== null) clearTimeout(this.start_);
    this.start_ = null;
    if (this.timer_ !== null) clearTimeout(this.timer_);
    this.timer_ = null;
    this.stop_heartbeat_();
    if (this.ws_ && this.ws_.readyState < CLOSING) this.ws_.close(code || 1000, reason);
  };

  WsRelay.prototype.connect_ = function () {
    if (this.closed_) return;
    var Ctor = this.options.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
    if (!Ctor) throw new Error('wsrelay: no WebSocket implementation (pass options.WebSocket)');
    this.emit_('connecting', { attempt: this.attempt });
    var ws;
    var url = this.connect_url_();
    try {
      ws = this.options.protocols !== undefined ? new Ctor(url, this.options.protocols)
                                                : new Ctor(url);
    } catch (err) {
      // A malformed URL or a blocked port: treated as a failed attempt.
      this.ws_ = null;
      this.emit_('close', { code: 1006, reason: String(err && err.message || err),
                            wasClean: false, willReconnect: true });
      this.schedule_reconnect_();
      return;
    }
    this.ws_ = ws;
    ws.binaryType = this.options.binary_type;
    var self = this;
    ws.onopen = function () { if (self.ws_ === ws) self.on_open_(); };
    ws.onmessage = function (e) { if (self.ws_ === ws) self.on_message_(e.data); };
    ws.onclose = function (e) {
      if (self.ws_ === ws) self.on_close_(e.code, e.reason, e.wasClean);
    };
    ws.onerror = function () {};  // a close event always follows
  };

  // The URL of the next attempt: with history, `history` or since=<position>.
  WsRelay.prototype.connect_url_ = function () {
    if (!this.options.history) return this.url;
    var hash = this.url.indexOf('#');
    var base = hash < 0 ? this.url : this.url.slice(0, hash);
    var param = this.position ? 'since=' + encodeURIComponent(this.position) : 'history';
    return base + (base.indexOf('?') < 0 ? '?' : '&') + param;
  };

  WsRelay.prototype.on_open_ = function () {
    this.attempt = 0;
    this.missed_heartbeats_ = 0;
    this.start_heartbeat_();
    this.emit_('open', {});
  };

  WsRelay.prototype.on_message_ = function (data) {
    var heartbeat = this.options.heartbeat;
    if (heartbeat && data === heartbeat) {
      this.missed_heartbeats_ = 0;
      return;
    }
    if (!this.options.history) {
      this.emit_('message', { data: data });
      return;
    }
    if (data === 'reset') {
      // The gap since our position is no longer in the history: the page
      // should fetch the current state; live messages follow.
      this.position = null;
      this.emit_('reset', {});
      return;
    }
    var envelope = parse_envelope(data);
    if (!envelope) {
      this.emit_('message', { data: data, position: null });
      return;
    }
    if (POSITION.test(envelope.position)) {
      // Never twice, whatever happens: a position at or before ours was
      // delivered already.
      if (this.position && !position_after(envelope.position, this.position)) return;
      this.position = envelope.position;
      this.emit_('message', { data: envelope.data, position: envelope.position });
      return;
    }
    this.emit_('message', { data: envelope.position === '-' ? envelope.data : data,
                            position: null });
  };

  WsRelay.prototype.on_close_ = function (code, reason, was_clean) {
    this.ws_ = null;
    this.stop_heartbeat_();
    if (is_permanent_close(code, reason)) this.closed_ = true;
    this.emit_('close', { code: code, reason: reason || '', wasClean: !!was_clean,
                          willReconnect: !this.closed_ });
    this.schedule_reconnect_();
  };

  WsRelay.prototype.schedule_reconnect_ = function () {
    if (this.closed_ || this.timer_ !== null) return;
    this.attempt += 1;
    var o = this.options;
    var delay = backoff_delay(this.attempt, o.backoff_base, o.backoff_max, o.random);
    var self = this;
    this.timer_ = setTimeout(function () {
      self.timer_ = null;
      self.connect_();
    }, delay);
    this.emit_('reconnecting', { attempt: this.attempt, delay: delay });
  };

  WsRelay.prototype.start_heartbeat_ = function () {
    if (!this.options.heartbeat) return;
    var self = this;
    this.heartbeat_timer_ = setInterval(function () { self.beat_(); },
                                        this.options.heartbeat_interval);
  };

  WsRelay.prototype.stop_heartbeat_ = function () {
    if (this.heartbeat_timer_ !== null) clearInterval(this.heartbeat_timer_);
    this.heartbeat_timer_ = null;
  };

  // A connection whose heartbeats go unanswered is dead even if the socket
  // says open (a NAT or proxy dropped it without a FIN). Waiting for the
  // browser's close handshake could take minutes, so the socket is abandoned
  // at once and the close reported as abnormal (1006).
  WsRelay.prototype.beat_ = function () {
    var ws = this.ws_;
    if (!ws || ws.readyState !== OPEN) return;
    if (this.missed_heartbeats_ >= this.options.max_missed_heartbeats) {
      this.ws_ = null;
      try {
        ws.close();
      } catch (ignored) { /* already closing */ }
      this.on_close_(1006, 'heartbeat timeout', false);
      return;
    }
    this.missed_heartbeats_ += 1;
    ws.send(this.options.heartbeat);
  };

  // ws4redis.js's interface over the same connection. `this` may be an
  // instance (new WS4Redis(...)) or not (WS4Redis(...)), as there.
  function WS4Redis(options) {
    if (!(this instanceof WS4Redis)) return new WS4Redis(options);
    options = options || {};
    if (options.uri === undefined && options.url === undefined) {
      throw new Error('No Websocket URI in options');
    }
    var relay_options = {};
    for (var key in options) relay_options[key] = options[key];
    if (options.heartbeat_msg) relay_options.heartbeat = options.heartbeat_msg;
    var relay = new WsRelay(relay_options);
    relay.on('connecting', function () {
      if (typeof options.connecting === 'function') options.connecting();
    });
    relay.on('open', function () {
      if (typeof options.connected === 'function') options.connected();
    });
    relay.on('message', function (e) {
      if (typeof options.receive_message === 'function') options.receive_message(e.data);
    });
    relay.on('close', function (e) {
      if (typeof options.disconnected === 'function') options.disconnected(e);
    });
    this.relay = relay;
    // As ws4redis.js: a message sent while disconnected is dropped, not
    // thrown (a page written for it does not guard its calls). Returns
    // whether it was sent.
    this.send_message = function (message) {
      if (relay.readyState !== OPEN) return false;
      relay.send(message);
      return true;
    };
    this.get_state = function () { return relay.readyState; };
    this.close = function () { relay.close(); };
  }

  WS4Redis.CONNECTING = CONNECTING;
  WS4Redis.OPEN = OPEN;
  WS4Redis.CLOSING = CLOSING;
  WS4Redis.CLOSED = CLOSED;

  return { WS4Redis: WS4Redis, WsRelay: WsRelay };
});
