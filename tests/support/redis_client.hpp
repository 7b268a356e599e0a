#pragma once
// Blocking hiredis clients for the test side of a Redis server: RedisSync runs
// commands, RedisSubscriberProbe watches what is published. Every read has a
// deadline; nothing here can block a test forever.
//
// Not thread-safe: one thread per object (a publisher thread makes its own).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace wsrelay::test {

using namespace std::chrono_literals;

// A Redis reply, flattened to plain values.
struct RedisValue {
  enum class Kind { nil, status, error, integer, string, array };
  Kind kind = Kind::nil;
  std::string str;  // status, error and string replies
  long long integer = 0;
  std::vector<RedisValue> elements;

  bool is_nil() const { return kind == Kind::nil; }
  bool is_error() const { return kind == Kind::error; }
};

class RedisSync {
 public:
  // Throws std::runtime_error when it cannot connect within `timeout`, which
  // also bounds every later command.
  explicit RedisSync(std::uint16_t port, std::chrono::milliseconds timeout = 5s);
  ~RedisSync();
  RedisSync(const RedisSync&) = delete;
  RedisSync& operator=(const RedisSync&) = delete;

  // Throws std::runtime_error on I/O errors (an error *reply* is a value).
  RedisValue command(const std::vector<std::string>& argv);

  long long publish(const std::string& channel, const std::string& payload);
  std::optional<std::string> get(const std::string& key);
  // SET key value [EX seconds].
  void set(const std::string& key, const std::string& value,
           std::optional<int> expire_seconds = std::nullopt);
  long long ttl(const std::string& key);
  long long del(const std::string& key);
  std::vector<std::string> keys(const std::string& pattern);
  // How many of the server's clients are connected to its port
  // `listening_port` (CLIENT LIST's laddr): which of a TLS and a plain port
  // a client uses. Counts this connection when it is on that port, but not
  // the links of replicas (flags=S) nor those of sentinels (named
  // sentinel-...).
  int clients_on(std::uint16_t listening_port);

 private:
  redisContext* context_ = nullptr;
};

struct PubSubMessage {
  std::string channel;
  std::string payload;
};

class RedisSubscriberProbe {
 public:
  // SUBSCRIBEs (or PSUBSCRIBEs when `patterns`) to `channels` and waits for
  // the confirmations, so anything published after the constructor returns
  // is seen. Throws std::runtime_error on failure.
  RedisSubscriberProbe(std::uint16_t port, std::vector<std::string> channels, bool patterns = false,
                       std::chrono::milliseconds timeout = 5s);
  ~RedisSubscriberProbe();
  RedisSubscriberProbe(const RedisSubscriberProbe&) = delete;
  RedisSubscriberProbe& operator=(const RedisSubscriberProbe&) = delete;

  // The next message, or nullopt when none arrives within `timeout`. The
  // connection stays usable after a timeout.
  std::optional<PubSubMessage> next(std::chrono::milliseconds timeout);
  // Payload only.
  std::optional<std::string> next_message(std::chrono::milliseconds timeout);

  // Reads until a message with `marker_payload` on `marker_channel` arrives
  // and returns every message before it; nullopt when the marker does not
  // come within `timeout`. Publishing a marker after an action and calling
  // this proves "nothing was published" without waiting a fixed time.
  std::optional<std::vector<PubSubMessage>> messages_before(const std::string& marker_channel,
                                                            const std::string& marker_payload,
                                                            std::chrono::milliseconds timeout);

 private:
  std::optional<RedisValue> next_reply(std::chrono::milliseconds timeout);

  redisContext* context_ = nullptr;
};

}  // namespace wsrelay::test
