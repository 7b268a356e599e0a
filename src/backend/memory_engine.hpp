#pragma once
// MemoryEngine: an in-process Engine for running without Redis (a demo, a
// single process). Channels, publishes and stored last messages live in this
// object on the control executor; nothing leaves the process, so several
// wsrelay processes do not see each other's messages.
//
// Every handler and callback is posted to the executor, in call order, so
// a publish after a subscribe is delivered after its on_subscribed, and a
// barrier fires after every message published before it.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/runtime/net.hpp>

namespace wsrelay {

class Metrics;

class MemoryEngine final : public Engine {
 public:
  // `metrics` must outlive the engine. Messages over `max_message_bytes`
  // are dropped and reported (on_oversized), as the redis engine does.
  MemoryEngine(net::any_io_executor control, Metrics& metrics,
               std::size_t max_message_bytes = 1024 * 1024);
  ~MemoryEngine() override;

  std::string_view name() const override { return "memory"; }
  void start(EngineHandlers handlers) override;
  void stop() override;
  bool ready() const override { return true; }

  void subscribe(const std::vector<std::string>& channels) override;
  void unsubscribe(const std::vector<std::string>& channels) override;
  void publish(const std::string& channel, std::string_view payload, int expire_seconds,
               PublishRefused refused) override;
  void publish_history(const std::string& channel, std::string_view payload, int expire_seconds,
                       const HistoryRule& rule, PublishRefused refused) override;
  void read_history(const std::vector<std::string>& channels, std::optional<StreamId> since,
                    std::size_t limit, HistoryCallback callback) override;
  void get(const std::vector<std::string>& keys, GetCallback callback) override;
  // No keys to run commands on: always unavailable (the command channel
  // needs redis.url, checked at start-up).
  void command(std::vector<std::string> argv, std::size_t max_reply_bytes,
               CommandDone done) override;
  void barrier(std::function<void()> callback) override;
  void when_published(std::function<void()> callback) override { barrier(std::move(callback)); }

 private:
  void deliver(std::string key, std::string_view payload);  // on the subscription `key`

  class State;
  std::shared_ptr<State> state_;
};

}  // namespace wsrelay
