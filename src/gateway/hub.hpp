#pragma once
// Hub: which shards want which channel, and the fan-out from the engine to
// them. A thin shell around ChannelTable (the reference counts behind
// SUBSCRIBE/UNSUBSCRIBE, one per shard, confirmation, replay and resync
// state): it moves values between the table, the engine and the shards, and
// batches subscription changes into one engine call per loop turn.
//
// Threading: the hub's state lives on the control executor (its own thread,
// never a shard's). The public methods marked "any thread" post to it. Messages
// go to a shard as one post per shard, never per session.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/gateway/channel_table.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {

class Engine;
class Metrics;
class Shard;

class Hub {
 public:
  using ReplayCallback = std::function<void(std::vector<std::optional<std::string>>)>;

  Hub(net::io_context& control, Engine& engine, Metrics& metrics);
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void set_shards(std::vector<Shard*> shards) { shards_ = std::move(shards); }
  // Before start(): subscription keys whose stored value is never read, for
  // a replay or a resync (routes.hpp: live_only_keys).
  void set_live_only(const std::vector<std::string>& keys) {
    live_only_ = {keys.begin(), keys.end()};
  }
  // Before start(): the history rules and the prefix (docs/history.md):
  // publishes on their channels go through the history script, and their
  // live messages carry positions.
  void set_history(std::vector<HistoryRule> rules, std::string prefix) {
    history_rules_ = std::move(rules);
    prefix_ = std::move(prefix);
  }
  void start();  // control thread
  void stop();   // control thread

  // Any thread. The shard started / stopped wanting these channels.
  void shard_subscribed(std::size_t shard, std::vector<std::string> channels);
  void shard_unsubscribed(std::size_t shard, std::vector<std::string> channels);

  // Any thread. The shard's session wants `channels` (already registered
  // with shard_subscribed, posted earlier from the same thread). Once every
  // channel is confirmed subscribed, posts `confirmed()` to the shard: from
  // then on every message published on them reaches the shard ("open means
  // subscribed": the session writes its 101 there). A channel already live
  // on the gateway needs no Redis round trip for it. Then reads their stored
  // last messages, waits for the subscriber to pass every message sent
  // before that read, and posts `done(values)` (after `confirmed`: both are
  // posted to the same shard, in this order). Messages the shard receives
  // before `done` runs are the ones the replay must be ordered against (see
  // WsSession::on_replay). `owner` expired = the session is gone: the
  // request is dropped.
  // With `history`, the replay is read from the channels' history instead
  // (the same order: confirmed, the read, the barrier, history->done).
  void open(std::size_t shard, std::vector<std::string> channels, std::weak_ptr<void> owner,
            std::function<void()> confirmed, ReplayCallback done,
            std::shared_ptr<ChannelTable::HistoryOpen> history = nullptr);

  // Any thread. Client publish. When it is not carried out (the engine's
  // queue is full, or Redis refused it), the engine counts and logs it and
  // `refused` runs on the control executor.
  void publish(std::string channel, std::string payload, int expire_seconds,
               PublishRefused refused);

  // Any thread. A command of the command channel, handed to the engine on
  // the control executor, in the order of the calls from one thread;
  // `done` runs there (Engine::command). Dropped once the hub is stopped.
  void command(std::vector<std::string> argv, std::size_t max_reply_bytes, CommandDone done);

  // Control thread. `done` runs (on the control thread) once every client
  // publish accepted so far has been answered by the backend: the flush of
  // the shutdown drain.
  void when_published(std::function<void()> done);

  // Any thread: the backend can take publishes and deliver messages.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

 private:
  void on_message(std::string_view channel, std::string_view payload, const DeliveryHold& hold,
                  Message::clock::time_point received);
  void on_subscribed(const std::string& channel);
  void on_link(bool up);
  void on_refused(const std::string& channel, std::string_view why);
  void on_gap(std::vector<std::string> channels);
  void on_oversized(std::string_view channel, std::size_t bytes);
  void resync();
  void proceed(const ChannelTable::Request& request);
  void proceed_history(const ChannelTable::Request& request);
  MessagePtr make_message(std::string_view channel, std::string_view payload,
                          Message::clock::time_point received) const;
  // Live delivery on history channels was interrupted: their sessions with
  // positions are closed, to resume (empty: every channel).
  void interrupt_history(const std::vector<std::string>& channels);
  void fan_out(const std::vector<ChannelTable::ShardIndex>& shards, const MessagePtr& message,
               const DeliveryHold& hold);
  void schedule_flush();
  void flush();

  net::io_context& control_;
  Engine& engine_;
  Metrics& metrics_;
  std::vector<Shard*> shards_;
  ChannelTable table_;  // the logic: reference counts, confirmation, replay and resync state
  std::unordered_set<std::string, StringHash, std::equal_to<>> live_only_;
  std::vector<HistoryRule> history_rules_;
  std::string prefix_;
  bool flush_posted_ = false;
  bool stopped_ = false;
  RateLimitedLog oversized_log_;
  std::atomic<bool> ready_{false};
};

}  // namespace wsrelay
