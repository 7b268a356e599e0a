#pragma once
// BlockingRedis: one plain, blocking Redis connection for tools and
// applications (wsrelay-publish, Publisher), never for the daemon's threads,
// which use RedisConnection. The same wire code as the daemon: commands
// formatted by hiredis's redisFormatCommandArgv, replies parsed by its
// redisReader (resp.hpp); the socket is a plain one with poll() deadlines.
//
// Not thread-safe: one thread uses a BlockingRedis at a time.
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

// rediss:// is the daemon's alone for now: these tools speak plain TCP.
inline constexpr std::string_view tls_not_supported =
    "rediss:// (TLS) is not supported by wsrelay-publish and the Publisher library yet; "
    "publish through the gateway's HTTP API (docs/publishing.md) or with redis-cli --tls";

// Redis could not be reached, did not answer in time, broke the protocol,
// refused AUTH or SELECT, or (from Publisher) answered a command with an
// error. The message says which, in one line, without the password.
struct RedisError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BlockingRedis {
 public:
  // `timeout` bounds the connection (connect, AUTH, SELECT) and each
  // pipeline() call as a whole.
  BlockingRedis(RedisEndpoint endpoint, std::chrono::milliseconds timeout);
  ~BlockingRedis();
  BlockingRedis(const BlockingRedis&) = delete;
  BlockingRedis& operator=(const BlockingRedis&) = delete;

  // Sends every command in one write and returns one reply per command, in
  // order; error replies are values (RespValue::is_error), not exceptions.
  // Connects first (with AUTH and SELECT as the endpoint says; for a
  // redis+sentinel:// endpoint, to the master the sentinels name, its ROLE
  // checked) when not connected. For a redis+cluster:// endpoint it
  // connects to the first seed that answers, and a command answered with
  // -MOVED or -ASK is sent again to the node named (a connection kept per
  // node), so its reply is the owner's. Throws RedisError on a failure of the connection, which is
  // then closed: the next call connects again.
  std::vector<RespValue> pipeline(const std::vector<std::vector<std::string>>& commands);

  // Cluster endpoints: `commands` (a MULTI ... EXEC on `key`'s slot) go as
  // one pipeline to the master of `key`'s slot, as learnt from -MOVED (this
  // connection until one says otherwise); when one of them is redirected
  // the whole pipeline goes again: to the new owner after -MOVED, after a
  // short pause after -ASK (a transaction cannot follow an -ASK: it waits
  // for the migration to end), within the timeout; a learnt master that
  // cannot be reached is forgotten (asked through the seeds again). Other
  // endpoints: pipeline().
  std::vector<RespValue> pipeline_at(std::string_view key,
                                     const std::vector<std::vector<std::string>>& commands);

  const RedisEndpoint& endpoint() const { return endpoint_; }
  bool connected() const { return fd_ >= 0; }
  void close();

 private:
  using clock = std::chrono::steady_clock;
  // To endpoint_, through its sentinels when it has some.
  void connect(clock::time_point deadline);
  // To target_: the socket, AUTH, SELECT, and ROLE when `check_role`.
  void open(clock::time_point deadline, bool check_role);
  std::vector<RespValue> exchange(const std::vector<std::vector<std::string>>& commands,
                                  clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what);
  // Cluster: to the first seed that answers.
  void connect_cluster(clock::time_point deadline);
  // Cluster: each reply that is a redirect is replaced by the named node's.
  void follow_redirects(const std::vector<std::vector<std::string>>& commands,
                        std::vector<RespValue>& replies);
  // Cluster: the connection kept for `address`, made on first use.
  BlockingRedis& node(const HostPort& address);

  RedisEndpoint endpoint_;
  RedisEndpoint target_;  // the node being connected to (a sentinel, the master)
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  RespReader reader_;
  std::map<std::string, std::unique_ptr<BlockingRedis>> nodes_;  // cluster: by "host:port"
  std::map<int, HostPort> owners_;  // cluster: slots learnt from -MOVED
};

}  // namespace wsrelay
