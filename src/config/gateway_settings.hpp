#pragma once
// The gateway's settings: the [server], [websocket], [log], [shutdown] and
// [publish_api] tables. Plain data, loaded and checked by config.hpp; the server, its
// shards and sessions read them from their configuration snapshot.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <wsrelay/wire/address_limits.hpp>
#include <wsrelay/wire/slow_consumer.hpp>

namespace wsrelay {

struct ServerSettings {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 = any free port
  std::string websocket_url = "/ws/";
  int threads = 0;  // 0 = one shard per core
  std::size_t max_connections = 100000;
  // Accepted connections not yet WebSockets (or answered); the next gets 503
  // at accept. Bounds half-open sockets and their request buffers.
  std::size_t max_handshakes = 1024;
  // Per client address (IPv6: per /64), outside address_limits_exempt:
  std::size_t max_connections_per_address = 256;  // open at once; 0 = no limit
  int connect_rate_per_address = 5;               // new ones per second; 0 = no limit
  int connect_burst_per_address = 50;             // token bucket size for the rate
  std::vector<std::string> address_limits_exempt = {
      "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"};
  int handshake_timeout_seconds = 10;
  std::size_t max_header_bytes = 8192;
  std::vector<std::string> subprotocols;  // empty = select the first offered
  // (server.session_cookie is in AuthSettings: the anonymous backend reads it.)
  std::string ready_file;  // when set, "host:port\n" is written here once listening
  // HOST:PORT of an internal listener for /metrics, /healthz and /readyz
  // only; empty = none. When set, /metrics is served there and not on `listen`.
  std::string admin_listen;
  std::string client_path = "/static/wsrelay.js";  // the embedded JS client; empty = not served
  bool demo = false;                               // serve the demo chat page at /demo/

  // Derived by validate(): parsed forms of the strings above.
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string admin_host;  // from admin_listen; empty when it is
  std::uint16_t admin_port = 0;
  AddressLimitSettings address_limits;  // the per-address keys together

  bool operator==(const ServerSettings&) const = default;
};

struct WebSocketSettings {
  std::string heartbeat;  // ws4redis WS4REDIS_HEARTBEAT; empty = off
  int heartbeat_interval_seconds = 4;
  int ping_interval_seconds = 20;
  int idle_timeout_seconds = 60;
  int close_timeout_seconds = 2;  // how long a closing peer gets to answer the close frame
  std::size_t max_message_bytes = 65536;
  std::size_t max_queue_bytes = 1024 * 1024;  // per-session outbound queue; over it: 1013
  // Over this many queued bytes for soft_queue_seconds: 1013 (policy close); 0 = off.
  std::size_t soft_queue_bytes = 256 * 1024;
  int soft_queue_seconds = 10;
  std::vector<std::string> slow_consumer_policies;  // "FACILITY_GLOB=POLICY", first match wins
  // SO_SNDBUF of each connection; 0 = the kernel's (autotuned, up to 4 MiB
  // by default for a peer that does not read).
  std::size_t send_buffer_bytes = 0;
  int publish_rate = 100;   // client messages per second per connection; 0 = no limit
  int publish_burst = 200;  // token bucket size for publish_rate

  // Derived by validate(): the parsed slow_consumer_policies.
  std::vector<SlowConsumerRule> slow_consumer_rules;

  bool operator==(const WebSocketSettings&) const = default;
};

struct LogSettings {
  std::string log_level = "info";   // trace, debug, info, warn, error, critical, off
  std::string log_format = "text";  // text, json (log.hpp)
  bool log_access = true;           // a line per handshake outcome and per close

  bool operator==(const LogSettings&) const = default;
};

struct ShutdownSettings {
  int shutdown_timeout_seconds = 10;
  int shutdown_drain_seconds = 5;

  bool operator==(const ShutdownSettings&) const = default;
};

// [publish_api] (docs/publishing.md, "HTTP"): POST /api/publish.
struct PublishApiSettings {
  bool publish_api_enabled = false;
  std::vector<std::string> publish_api_keys;  // Bearer keys, any of them accepted (rotation)
  std::string publish_api_keys_file;          // more keys, one a line; read at start and reload
  std::size_t publish_api_max_body_bytes = 1024 * 1024;  // over it: 413
  bool publish_api_admin_only = false;                   // served on server.admin_listen only

  // Derived by validate(): publish_api.keys and keys_file's, together.
  std::vector<std::string> publish_api_key_list;

  bool operator==(const PublishApiSettings&) const = default;
};

}  // namespace wsrelay
