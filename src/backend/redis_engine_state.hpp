#pragma once
// RedisEngine::State: the pimpl of RedisEngine (redis_engine.hpp), shared
// by the two sources that define it and included nowhere else. It runs on
// the control executor, where its connections hand it their replies and
// states. Its members are defined in redis_engine.cpp (construction, start
// and stop, subscriptions, the connections' states, pushes and sentinel
// events) and redis_engine_commands.cpp (publishes, reads, commands, and the
// publish queue and its gate).
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/backend/cluster_commands.hpp>
#include <wsrelay/backend/engine.hpp>
#include <wsrelay/backend/publish_queue.hpp>
#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/backend/redis_engine.hpp>
#include <wsrelay/backend/sharded_subscriptions.hpp>
#include <wsrelay/backend/subscriber_link.hpp>
#include <wsrelay/backend/subscription_tracker.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

// Everything the engine owns, shared so that connection handlers can hold a
// weak_ptr: the RedisEngine front may be destroyed while completions are
// still queued on the executor. The logic lives in the two cores
// (subscriptions_, queue_); this class moves values between them and the
// connections, and keeps the metrics and the log lines.
class RedisEngine::State : public std::enable_shared_from_this<State> {
 public:
  State(const Config& config, net::any_io_executor executor, Metrics& metrics);

  void start(EngineHandlers handlers);
  void stop();
  bool ready() const { return !stopped_ && subscriber_up() && command_up(); }
  void subscribe(const std::vector<std::string>& channels);
  void unsubscribe(const std::vector<std::string>& channels);
  void barrier(std::function<void()> callback);
  void when_published(std::function<void()> callback);
  void publish(const std::string& channel, std::string_view payload, int expire_seconds,
               PublishRefused refused, std::optional<HistoryRule> history = std::nullopt);
  void read_history(const std::vector<std::string>& channels, std::optional<StreamId> since,
                    std::size_t limit, HistoryCallback callback);
  void get(const std::vector<std::string>& keys, GetCallback callback);
  void command(std::vector<std::string> argv, std::size_t max_reply_bytes, CommandDone done);

 private:
  // redis_engine.cpp
  void act(SubscriptionTracker::Events events);
  // What either subscriptions core reports alike.
  void report(const std::vector<std::pair<std::string, std::string>>& refused,
              const std::vector<std::string>& confirmed,
              const std::vector<std::function<void()>>& barriers_done,
              const std::string& unexpected_error);
  bool subscriber_up() const { return sharded_ ? sharded_->up() : subscriber_->up(); }
  bool subscriptions_settled() const {
    return sharded_ ? sharded_->settled() : subscriptions_.settled();
  }
  bool wants(std::string_view channel) const {
    return sharded_ ? sharded_->wants(channel) : subscriptions_.wants(channel);
  }
  void on_subscriber_state(bool up);
  void on_command_state(bool up);
  void on_push(const Push& push, const DeliveryHold& hold);
  void on_sentinel_event(const Push& push);
  void on_cluster_state();
  // redis.sharded: one SubscriberLink per master (sharded_subscriptions.hpp).
  void act_sharded(ShardedSubscriptions::Events events);
  void open_shard(const HostPort& address);
  void on_shard_state(const HostPort& address, bool up);
  void on_shard_push(const HostPort& address, const Push& push, const DeliveryHold& hold);
  void arm_shard_refresh();
  // The command side: the one connection, or (redis+cluster://) the
  // connection to the master of `key`'s slot.
  bool command_up() const { return cluster_ ? cluster_->up() : command_->up(); }
  // What the publish queue's gate waits for (with a cluster: no redirect
  // outstanding either).
  bool command_settled() const { return cluster_ ? cluster_->settled() : command_->up(); }
  bool send_command(std::string_view key, const std::vector<std::string_view>& args,
                    RedisConnection::ReplyCallback done, bool ordered = true);

  // redis_engine_commands.cpp
  void update_gate();
  void pump();
  void count_pending();
  void notify_idle();
  void note_refused(std::string_view error);
  void send_publish(PublishOp op);
  bool publish_command(const PublishOp& op, RedisConnection::ReplyCallback done);
  void unsent(RedisConnection::ReplyCallback done);
  void repump();
  void send_script(std::vector<std::string> args, RedisConnection::ReplyCallback done);
  void send_read(ReadOp op);
  void log_command_error(const RespValue& reply);

  net::any_io_executor executor_;
  Metrics& metrics_;
  SubscriptionTracker subscriptions_;
  PublishQueue queue_;
  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::size_t max_message_bytes_;
  std::string prefix_;
  bool history_;  // history.facilities set: the scripts are loaded on every connection
  std::unique_ptr<SubscriberLink> subscriber_;  // null with redis.sharded
  // redis.sharded: the subscriptions core, and a subscriber per master,
  // made from shard_options_ (the subscriber's, the address aside).
  std::unique_ptr<ShardedSubscriptions> sharded_;
  std::map<HostPort, std::unique_ptr<SubscriberLink>> shard_links_;
  std::map<HostPort, bool> shard_ever_up_;
  RedisConnectionOptions shard_options_;
  std::size_t backlog_limit_ = 0;
  net::steady_timer shard_refresh_timer_;
  bool shard_refresh_armed_ = false;
  std::unique_ptr<RedisConnection> command_;  // null with redis+cluster://
  std::unique_ptr<ClusterCommands> cluster_;  // redis+cluster:// only
  // Sentinel endpoints: a connection to one sentinel at a time, subscribed
  // to +switch-master.
  std::unique_ptr<RedisConnection> watch_;
  std::string master_name_;
  EngineHandlers handlers_;
  bool started_ = false;
  bool stopped_ = false;
  bool subscriber_ever_up_ = false;
  bool command_ever_up_ = false;
  bool repump_posted_ = false;
  RateLimitedLog drop_log_;
  RateLimitedLog command_error_log_;
  RateLimitedLog subscriber_error_log_;
  RateLimitedLog publish_refused_log_;
  RateLimitedLog subscribe_refused_log_;
};

}  // namespace wsrelay
