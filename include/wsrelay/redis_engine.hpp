#pragma once
// RedisEngine: the Engine backed by a Redis server, with two connections on
// the control executor:
//
// - the subscriber (RedisConnection in subscriber mode) holds the set of
//   wanted channels, replays one SUBSCRIBE with all of them after every
//   reconnect, and answers barrier() with a PING whose pong comes back after
//   every message Redis sent before it;
// - the command connection pipelines PUBLISH / SET EX / MGET. While it is
//   down, publishes and gets wait in one bounded queue (redis_pending_max_*)
//   and are sent in order on reconnect.
//
// Delivery is at most once: a command already written when the link drops
// is not replayed, since Redis may have executed it.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/engine.hpp>
#include <wsrelay/net.hpp>

namespace wsrelay {

struct Config;
class Metrics;

class RedisEngine final : public Engine {
 public:
  // `config.redis` must be set. `metrics` must outlive the engine.
  RedisEngine(const Config& config, net::any_io_executor control, Metrics& metrics);
  ~RedisEngine() override;

  std::string_view name() const override { return "redis"; }
  void start(EngineHandlers handlers) override;
  void stop() override;
  bool ready() const override;

  void subscribe(const std::vector<std::string>& channels) override;
  void unsubscribe(const std::vector<std::string>& channels) override;
  bool publish(const std::string& channel, std::string_view payload, int expire_seconds) override;
  void get(const std::vector<std::string>& keys, GetCallback callback) override;
  void barrier(std::function<void()> callback) override;
  void when_published(std::function<void()> callback) override;

 private:
  class State;
  std::shared_ptr<State> state_;
};

}  // namespace wsrelay
