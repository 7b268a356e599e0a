#pragma once
// RedisConnection: one Redis connection that keeps itself up. It owns its
// socket (TCP with TCP_NODELAY, or a unix socket), timers and RESP reader,
// all on the executor it is created with; every method must be called there
// and every callback runs there.
//
// Why our own socket and not hiredis's async context: hiredis 0.14 has no
// timers (no connect timeout, no health check), resolves names with a
// blocking call, may free its context inside a read callback, and drops the
// reply to a PING sent on a subscribed connection, so a dead subscriber could
// not be detected. We keep only its parser and formatter (resp.hpp).
//
// Life cycle: start() connects (resolve + connect + AUTH + SELECT + PING
// under one deadline) and reports up(true); any error logs one line, fails every
// pending callback with nullptr, reports up(false) if it was up, and retries
// with exponential backoff and jitter. Nothing here throws after start().
//
// Sentinel (endpoint.is_sentinel()): each attempt first asks the sentinels
// in turn for the master's address (SentinelDiscovery, wire/sentinel.hpp),
// then connects there and adds ROLE to the handshake: the link is up only
// on a node that says it is a master. Any failure goes back to asking.
// With `sentinel_watch` the connection is to the sentinels themselves, one
// at a time, the next one after each failure (for +switch-master).
//
// Commands are pipelined: send() appends to one output buffer, at most one
// write is in flight, and replies are matched to callbacks in order. In
// subscriber mode every reply after the handshake goes to the push handler
// instead (subscribe acks, messages, pongs), because RESP2 pub/sub replies
// cannot be matched to the commands that caused them.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/resp.hpp>

namespace boost::asio::ssl {
class context;
}

namespace wsrelay {

struct RedisConnectionOptions {
  RedisEndpoint endpoint;
  std::string name = "redis";  // in log lines: "redis <name>: ..."
  bool subscriber = false;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  // Subscriber mode: a message whose payload is larger is skipped unread and
  // handed on as Push::Kind::oversized (RespSizeGate). Zero: no limit.
  std::size_t max_message_bytes = 0;
  // When nothing has been read for this long a PING is sent; when nothing
  // has been read for another interval after that, the link is declared
  // dead. Zero disables the check.
  std::chrono::milliseconds health_check_interval{0};
  // With a sentinel endpoint: connect to a sentinel (no AUTH, no SELECT),
  // not to the master.
  bool sentinel_watch = false;
  // rediss:// endpoints: the shared client context (redis_tls.hpp), and the
  // name the server's certificate must carry (empty: the endpoint's host).
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  std::string tls_server_name;
};

class RedisConnection {
 public:
  // reply == nullptr: the connection failed (or was stopped) before the reply.
  using ReplyCallback = std::function<void(const RespValue* reply)>;
  // A subscriber's reply, classified once (our health-check pongs are
  // not passed on); its strings were moved out of the reply, not copied.
  using PushHandler = std::function<void(Push&& push)>;
  using StateHandler = std::function<void(bool up)>;

  RedisConnection(net::any_io_executor executor, RedisConnectionOptions options);
  // Stops. Handlers must not own this object (capture a weak_ptr instead).
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void start(StateHandler on_state, PushHandler on_push = {});
  // Closes everything. No handler is called after it returns; pending reply
  // callbacks are called with nullptr from a posted task.
  void stop();

  bool up() const;
  // The node the link is up on (sentinel endpoints: the verified master);
  // empty while not up.
  HostPort node() const;
  // Times the link came up again after it had failed.
  std::uint64_t reconnects() const;

  // Queues one command while up; false (and the callback dropped, never
  // called) when the link is not up. In subscriber mode `callback` must be
  // empty: the reply goes to the push handler.
  bool send(const std::vector<std::string_view>& args, ReplyCallback callback = {});

  // Sentinel endpoints: the master is now at `address` (+switch-master).
  // A link to another node is dropped and the next attempt, made at once,
  // goes to `address` (and checks its ROLE). A no-op otherwise.
  void follow_master(const HostPort& address);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsrelay
