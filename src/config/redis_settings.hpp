#pragma once
// The backend's settings: the [redis] table. Plain data, loaded and checked
// by config.hpp (which also parses and redacts Redis URLs); the engine
// (engine.hpp: make_engine) is built from them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/sentinel.hpp>

namespace wsrelay {

// Where the Redis server is. Parsed from `redis://[user:password@]host:port[/db]`,
// `rediss://...` (the same over TLS), `unix:///path.sock[?db=N]` or
// `redis+sentinel://[user:password@]host:port,host:port/mastername[/db]` or
// `redis+cluster://[user:password@]host:port,host:port`; `rediss+sentinel://`
// and `rediss+cluster://` are the last two over TLS, to every server.
struct RedisEndpoint {
  bool is_unix = false;
  std::string host;  // TCP only
  std::uint16_t port = 6379;
  std::string path;  // unix only
  std::string user;  // empty: AUTH with password only (or none)
  std::string password;
  int db = 0;
  bool tls = false;  // rediss[+sentinel|+cluster]://: TLS with the [redis] tls_* settings
  // redis+sentinel:// only: the sentinels to ask for the master's address
  // (wire/sentinel.hpp) and its name. host and port are then the master's,
  // filled in by each connection once found; the credentials and db are
  // the master's (sentinels are asked without AUTH).
  std::vector<HostPort> sentinels;
  std::string master_name;
  // The sentinels' own password (their `requirepass`), from
  // redis.sentinel_password; empty: they are asked without AUTH.
  std::string sentinel_password;

  // redis+cluster:// only: the nodes to ask for the slot map first (any
  // node of the cluster will do); the credentials are every node's. host
  // and port are then the node a connection is on, filled in by it.
  std::vector<HostPort> cluster_seeds;

  bool is_sentinel() const { return !sentinels.empty(); }
  bool is_cluster() const { return !cluster_seeds.empty(); }
  bool operator==(const RedisEndpoint&) const = default;
};

struct RedisSettings {
  std::string redis_url;  // empty = in-process memory engine
  std::string prefix;
  int expire_seconds = 3600;
  int redis_connect_timeout_ms = 2000;
  int redis_reconnect_min_ms = 100;
  int redis_reconnect_max_ms = 500;  // bounds how late delivery resumes after Redis returns
  std::size_t redis_pending_max_messages = 10000;  // client publishes held while Redis is down
  std::size_t redis_pending_max_bytes = 16 * 1024 * 1024;
  // Message bytes the subscriber thread may hand to the hub before it drops
  // (and counts) instead: the bound on what a lagging hub costs in memory.
  std::size_t redis_subscriber_backlog_bytes = 32 * 1024 * 1024;
  // A message from the backend larger than this is dropped and counted,
  // never delivered in part; the subscriber skips its payload unread.
  std::size_t redis_max_message_bytes = 1024 * 1024;
  // rediss:// only (docs/operations.md, "Redis over TLS"). Empty CA file: the system's CAs.
  // Cert and key together: a client certificate, for servers that ask one.
  // Empty server name: the URL's host is the name verified (and sent as SNI).
  std::string redis_tls_ca_file;
  std::string redis_tls_cert_file;
  std::string redis_tls_key_file;
  std::string redis_tls_server_name;
  bool redis_tls_verify = true;  // false: no check of the server at all (tests only)
  // redis+sentinel:// only: the password of the sentinels themselves (their
  // `requirepass`), when they want one; the URL's credentials are the master's.
  std::string redis_sentinel_password;
  // redis+cluster:// only: sharded pub/sub (SSUBSCRIBE / SPUBLISH, Redis 7),
  // each channel on the master of its slot, one subscriber per master.
  bool redis_sharded = false;

  // [history] (docs/history.md): "FACILITY_GLOB=ENTRIES[/TTL_SECONDS]",
  // first match wins; the channels of a matching facility keep a Redis
  // Stream of their last ENTRIES messages.
  std::vector<std::string> history_facilities;
  int history_ttl_seconds = 86400;  // a rule's TTL when it names none

  // Derived by validate(): the parsed redis_url; none = memory engine.
  std::optional<RedisEndpoint> redis;
  // Derived by validate(): the parsed history_facilities.
  std::vector<HistoryRule> history_rules;

  bool operator==(const RedisSettings&) const = default;
};

}  // namespace wsrelay
