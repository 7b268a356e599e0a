#pragma once
// RedisEngine: the Engine backed by a Redis server. A thin shell around two
// pure cores and two connections:
//
// - the subscriber connection (SubscriberLink: its own thread) and its
//   bookkeeping (SubscriptionTracker): the wanted channels, one SUBSCRIBE
//   run with all of them after every reconnect, confirmations, refusals,
//   and barrier() as a PING whose pong comes back after every message Redis
//   sent before it;
// - the command connection (RedisConnection, on the control executor) and
//   what waits for it (PublishQueue): PUBLISH / SET EX / GET, pipelined, in
//   order, bounded (redis_pending_max_*), held back while the subscriber
//   has not re-subscribed every channel, sent again when the connection
//   dropped before Redis answered (at least once).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/runtime/net.hpp>

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
  void publish(const std::string& channel, std::string_view payload, int expire_seconds,
               PublishRefused refused) override;
  void publish_history(const std::string& channel, std::string_view payload, int expire_seconds,
                       const HistoryRule& rule, PublishRefused refused) override;
  void read_history(const std::vector<std::string>& channels, std::optional<StreamId> since,
                    std::size_t limit, HistoryCallback callback) override;
  void get(const std::vector<std::string>& keys, GetCallback callback) override;
  void command(std::vector<std::string> argv, std::size_t max_reply_bytes,
               CommandDone done) override;
  void barrier(std::function<void()> callback) override;
  void when_published(std::function<void()> callback) override;

 private:
  class State;
  std::shared_ptr<State> state_;
};

}  // namespace wsrelay
