// RedisEngine and the rest of its State (the class: redis_engine_state.hpp):
// building the three connections from the config, start and stop, the
// subscriptions (SubscriptionTracker) and what their replies ask for, the
// subscriber's and the command connection's ups and downs, the messages
// pushed by Redis, and the sentinels' +switch-master. Publishes, reads,
// commands and the publish queue are in redis_engine_commands.cpp. At the
// bottom, RedisEngine itself, a front that forwards to its State.
#include <wsrelay/backend/redis_engine.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <wsrelay/backend/redis_engine_state.hpp>
#include <wsrelay/backend/redis_tls.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {
namespace {

// Why this value: a lost shard channel (its slot moved, or its master
// failed) waits for a new slot map; asking at most ten times a second keeps
// a cluster that answers -CLUSTERDOWN for a while from being asked in a loop.
constexpr std::chrono::milliseconds shard_refresh_delay{100};

// Why this value: ten silent seconds before a PING, ten more to answer it.
// Long enough that a Redis busy with a slow command is not taken for dead
// (it still answers other clients with -BUSY, which counts as a sign of
// life), short enough that a vanished host is noticed within half a minute.
constexpr std::chrono::milliseconds health_check_interval{10000};

}  // namespace

RedisEngine::State::State(const Config& config, net::any_io_executor executor, Metrics& metrics)
    : executor_(std::move(executor)),
      metrics_(metrics),
      queue_(config.redis_pending_max_messages, config.redis_pending_max_bytes),
      max_messages_(config.redis_pending_max_messages),
      max_bytes_(config.redis_pending_max_bytes),
      max_message_bytes_(config.redis_max_message_bytes),
      prefix_(config.prefix),
      history_(!config.history_rules.empty()),
      backlog_limit_(config.redis_subscriber_backlog_bytes),
      shard_refresh_timer_(executor_) {
  RedisConnectionOptions options;
  options.endpoint = *config.redis;
  options.connect_timeout = std::chrono::milliseconds(config.redis_connect_timeout_ms);
  options.reconnect_min = std::chrono::milliseconds(config.redis_reconnect_min_ms);
  options.reconnect_max = std::chrono::milliseconds(config.redis_reconnect_max_ms);
  options.health_check_interval = health_check_interval;
  options.tls_context = make_redis_tls_context(config);
  options.tls_server_name = config.redis_tls_server_name;
  if (options.tls_context && !config.redis_tls_verify)
    spdlog::warn(
        "redis: redis.tls_verify = false: the server's certificate is not checked, "
        "anyone on the path can read and change the traffic");

  options.name = "subscriber";
  options.subscriber = true;
  options.max_message_bytes = config.redis_max_message_bytes;
  if (config.redis_sharded) {
    sharded_ = std::make_unique<ShardedSubscriptions>();
    shard_options_ = options;
  } else {
    subscriber_ = std::make_unique<SubscriberLink>(executor_, options,
                                                   config.redis_subscriber_backlog_bytes, metrics);
  }
  options.name = "command";
  options.subscriber = false;
  options.max_message_bytes = 0;
  if (config.redis->is_cluster()) {
    cluster_ = std::make_unique<ClusterCommands>(executor_, options, metrics);
  } else {
    command_ = std::make_unique<RedisConnection>(executor_, options);
  }
  if (config.redis->is_sentinel()) {
    master_name_ = config.redis->master_name;
    options.name = "sentinel";
    options.subscriber = true;
    options.sentinel_watch = true;
    options.max_message_bytes = 0;
    watch_ = std::make_unique<RedisConnection>(executor_, options);
  }
}

void RedisEngine::State::start(EngineHandlers handlers) {
  if (started_ || stopped_) return;
  started_ = true;
  handlers_ = std::move(handlers);
  std::weak_ptr<State> weak = weak_from_this();
  SubscriberLink::Handlers link;
  link.on_state = [weak](bool up) {
    if (auto self = weak.lock()) self->on_subscriber_state(up);
  };
  link.on_push = [weak](const Push& push, const DeliveryHold& hold) {
    if (auto self = weak.lock()) self->on_push(push, hold);
  };
  link.on_gap = [weak](std::vector<std::string> channels) {
    auto self = weak.lock();
    if (self && !self->stopped_ && self->handlers_.on_gap)
      self->handlers_.on_gap(std::move(channels));
  };
  if (subscriber_) subscriber_->start(std::move(link));
  if (cluster_) {
    std::function<void(const SlotMap&)> on_map;
    if (sharded_)
      on_map = [weak](const SlotMap& map) {
        auto self = weak.lock();
        if (self && !self->stopped_) self->act_sharded(self->sharded_->set_map(map));
      };
    cluster_->start(
        [weak] {
          if (auto self = weak.lock()) self->on_cluster_state();
        },
        std::move(on_map));
  } else {
    command_->start([weak](bool up) {
      if (auto self = weak.lock()) self->on_command_state(up);
    });
  }
  if (watch_)
    watch_->start(
        [weak](bool up) {
          auto self = weak.lock();
          if (self && up) self->watch_->send({"SUBSCRIBE", switch_master_channel});
        },
        [weak](Push&& push) {
          if (auto self = weak.lock()) self->on_sentinel_event(push);
        });
}

void RedisEngine::State::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (subscriber_) subscriber_->stop();
  for (auto& [address, link] : shard_links_) link->stop();
  shard_links_.clear();
  if (sharded_) sharded_ = std::make_unique<ShardedSubscriptions>();
  shard_refresh_timer_.cancel();
  if (command_) command_->stop();
  if (cluster_) cluster_->stop();
  if (watch_) watch_->stop();
  queue_ = PublishQueue(max_messages_, max_bytes_);
  subscriptions_ = SubscriptionTracker();
  metrics_.redis_subscriber_up = 0;
  metrics_.redis_command_up = 0;
  metrics_.redis_channels = 0;
  metrics_.redis_pending_messages = 0;
}

void RedisEngine::State::subscribe(const std::vector<std::string>& channels) {
  if (stopped_ || channels.empty()) return;
  if (sharded_) return act_sharded(sharded_->subscribe(channels));
  act(subscriptions_.subscribe(channels));
}

void RedisEngine::State::unsubscribe(const std::vector<std::string>& channels) {
  if (stopped_ || channels.empty()) return;
  if (sharded_) return act_sharded(sharded_->unsubscribe(channels));
  act(subscriptions_.unsubscribe(channels));
}

void RedisEngine::State::barrier(std::function<void()> callback) {
  if (stopped_) return;
  if (sharded_) return act_sharded(sharded_->barrier(std::move(callback)));
  act(subscriptions_.barrier(std::move(callback)));
}

// Writes what the subscriptions core asks for, then reports the rest.
void RedisEngine::State::act(SubscriptionTracker::Events events) {
  for (const auto& command : events.send)
    subscriber_->send(std::vector<std::string_view>(command.begin(), command.end()));
  report(events.refused, events.confirmed, events.barriers_done, events.unexpected_error);
  if (events.settled) update_gate();
}

void RedisEngine::State::report(const std::vector<std::pair<std::string, std::string>>& refused,
                                const std::vector<std::string>& confirmed,
                                const std::vector<std::function<void()>>& barriers_done,
                                const std::string& unexpected_error) {
  for (const auto& [channel, error] : refused) {
    ++metrics_.redis_subscribe_refused;
    // A channel name holds what clients chose (facility, session cookie,
    // claims), and each new one refused would be a line: escaped, and one
    // line a second (wsrelay_redis_subscribe_refused_total counts them all).
    if (std::uint64_t suppressed = 0; subscribe_refused_log_.should_log(suppressed))
      spdlog::warn(
          "redis subscriber: SUBSCRIBE \"{}\" refused: {}; closing its sessions ({} more "
          "refused since the previous line)",
          printable(channel), error, suppressed);
    if (handlers_.on_refused) handlers_.on_refused(channel, error);
  }
  for (const auto& channel : confirmed)
    if (handlers_.on_subscribed) handlers_.on_subscribed(channel);
  for (const auto& done : barriers_done)
    if (done) done();
  if (!unexpected_error.empty()) {
    std::uint64_t suppressed = 0;
    if (subscriber_error_log_.should_log(suppressed)) {
      spdlog::warn("redis subscriber: error reply: {} ({} other(s) since the previous line)",
                   printable(unexpected_error), suppressed);
    }
  }
}

// Opens and closes the shards' subscribers, writes on each what the core
// asks for, then reports the rest. The channels that lost their
// subscription are unconfirmed before anything is confirmed: a channel
// moved and confirmed in one call must end up confirmed.
void RedisEngine::State::act_sharded(ShardedSubscriptions::Events events) {
  for (const auto& address : events.open) open_shard(address);
  for (const auto& address : events.close) {
    auto it = shard_links_.find(address);
    if (it == shard_links_.end()) continue;
    spdlog::info("redis subscriber: {} is no longer a master; its subscriber is closed",
                 describe_host_port(address));
    it->second->stop();
    shard_links_.erase(it);
    shard_ever_up_.erase(address);
  }
  for (const auto& [address, command] : events.send)
    if (auto it = shard_links_.find(address); it != shard_links_.end())
      it->second->send(std::vector<std::string_view>(command.begin(), command.end()));
  if (!events.unconfirmed.empty() && handlers_.on_unconfirmed)
    handlers_.on_unconfirmed(events.unconfirmed);
  report(events.refused, events.confirmed, events.barriers_done, events.unexpected_error);
  if (events.refresh) arm_shard_refresh();
  metrics_.redis_channels = sharded_->subscribed_count();
  // Either way: a channel lost by its shard closes the gate until it is
  // subscribed again, as a drop does, and a master added or removed by a
  // map changes readiness.
  update_gate();
  if (const bool up = sharded_->up(); up != (metrics_.redis_subscriber_up == 1)) {
    metrics_.redis_subscriber_up = up ? 1 : 0;
    if (handlers_.on_ready) handlers_.on_ready(ready());
  }
}

void RedisEngine::State::open_shard(const HostPort& address) {
  if (shard_links_.contains(address)) return;
  auto options = shard_options_;
  options.endpoint.cluster_seeds.clear();
  options.endpoint.host = address.host;
  options.endpoint.port = address.port;
  options.name = "subscriber " + describe_host_port(address);
  auto link = std::make_unique<SubscriberLink>(executor_, options, backlog_limit_, metrics_);
  std::weak_ptr<State> weak = weak_from_this();
  SubscriberLink::Handlers handlers;
  handlers.on_state = [weak, address](bool up) {
    if (auto self = weak.lock()) self->on_shard_state(address, up);
  };
  handlers.on_push = [weak, address](const Push& push, const DeliveryHold& hold) {
    if (auto self = weak.lock()) self->on_shard_push(address, push, hold);
  };
  handlers.on_gap = [weak](std::vector<std::string> channels) {
    auto self = weak.lock();
    if (self && !self->stopped_ && self->handlers_.on_gap)
      self->handlers_.on_gap(std::move(channels));
  };
  link->start(std::move(handlers));
  shard_links_.emplace(address, std::move(link));
}

void RedisEngine::State::on_shard_state(const HostPort& address, bool up) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  if (up && std::exchange(shard_ever_up_[address], true)) ++metrics_.redis_reconnects;
  act_sharded(sharded_->link_state(address, up));
}

void RedisEngine::State::on_shard_push(const HostPort& address, const Push& push,
                                       const DeliveryHold& hold) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  if (push.kind == Push::Kind::message || push.kind == Push::Kind::oversized ||
      push.kind == Push::Kind::other)
    return on_push(push, hold);
  act_sharded(sharded_->on_reply(address, push));
}

// The map is read again by the command side (ClusterCommands), which hands
// every read to the core (start: on_map).
void RedisEngine::State::arm_shard_refresh() {
  if (shard_refresh_armed_ || stopped_) return;
  shard_refresh_armed_ = true;
  shard_refresh_timer_.expires_after(shard_refresh_delay);
  shard_refresh_timer_.async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self || ec || self->stopped_) return;
    self->shard_refresh_armed_ = false;
    self->cluster_->refresh();
  });
}

void RedisEngine::State::on_subscriber_state(bool up) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  metrics_.redis_subscriber_up = up ? 1 : 0;
  metrics_.redis_channels = 0;
  if (up) {
    if (subscriber_ever_up_) ++metrics_.redis_reconnects;
    subscriber_ever_up_ = true;
    act(subscriptions_.connected());
  } else {
    subscriptions_.disconnected();
  }
  update_gate();
  if (handlers_.on_link) handlers_.on_link(up);
  if (handlers_.on_ready) handlers_.on_ready(ready());
}

void RedisEngine::State::on_command_state(bool up) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  metrics_.redis_command_up = up ? 1 : 0;
  if (handlers_.on_ready) handlers_.on_ready(ready());
  if (up) {
    if (command_ever_up_) ++metrics_.redis_reconnects;
    command_ever_up_ = true;
    // Loaded before anything else is written on this connection, so the
    // EVALSHAs that follow find them (after a Redis restart too).
    if (history_)
      for (auto script : {history_publish_script(), history_read_script()})
        command_->send({"SCRIPT", "LOAD", script}, [](const RespValue* reply) {
          if (reply != nullptr && reply->is_error())
            spdlog::warn("redis command: SCRIPT LOAD of a history script failed: {}", reply->str);
        });
  }
  update_gate();
}

// Up: a slot map with every slot served and each master's connection up;
// settled: up with no redirected command unanswered (cluster_commands.hpp),
// which is what the publish queue's gate waits for. Reconnects are counted
// by ClusterCommands, per master; history (and its scripts) is refused with
// a cluster by the configuration.
void RedisEngine::State::on_cluster_state() {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  metrics_.redis_command_up = cluster_->up() ? 1 : 0;
  if (handlers_.on_ready) handlers_.on_ready(ready());
  update_gate();
}

void RedisEngine::State::on_push(const Push& push, const DeliveryHold& hold) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  if (push.kind == Push::Kind::message) {
    ++metrics_.messages_from_redis;
    if (wants(push.channel) && handlers_.on_message)
      handlers_.on_message(push.channel, push.payload, hold, push.received);
    return;
  }
  if (push.kind == Push::Kind::oversized) {
    ++metrics_.messages_from_redis;
    if (wants(push.channel) && handlers_.on_oversized)
      handlers_.on_oversized(push.channel, static_cast<std::size_t>(push.count));
    return;
  }
  if (push.kind == Push::Kind::other) {
    spdlog::debug("redis subscriber: unexpected reply ignored");
    return;
  }
  act(subscriptions_.on_reply(push));
  metrics_.redis_channels = subscriptions_.subscribed_count();
}

// Why watch: after a failover the old master may be gone without a word
// (a dead host keeps our sockets open until the health check gives up);
// the sentinels say at once where the new one is. Both connections are
// moved there, and each checks ROLE before it counts as up.
void RedisEngine::State::on_sentinel_event(const Push& push) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_ || push.kind != Push::Kind::message || push.channel != switch_master_channel) return;
  const auto address = read_switch_master(push.payload, master_name_);
  if (!address) return;
  spdlog::info("redis sentinel: master \"{}\" switched to {}; following it", master_name_,
               describe_host_port(*address));
  command_->follow_master(*address);
  subscriber_->follow_master(*address);
}

RedisEngine::RedisEngine(const Config& config, net::any_io_executor control, Metrics& metrics)
    : state_(std::make_shared<State>(config, std::move(control), metrics)) {
  spdlog::info("engine: redis at {} db {}", describe_redis_endpoint(*config.redis),
               config.redis->db);
}

RedisEngine::~RedisEngine() {
  state_->stop();
}

void RedisEngine::start(EngineHandlers handlers) {
  state_->start(std::move(handlers));
}
void RedisEngine::stop() {
  state_->stop();
}
bool RedisEngine::ready() const {
  return state_->ready();
}
void RedisEngine::subscribe(const std::vector<std::string>& channels) {
  state_->subscribe(channels);
}
void RedisEngine::unsubscribe(const std::vector<std::string>& channels) {
  state_->unsubscribe(channels);
}
void RedisEngine::publish(const std::string& channel, std::string_view payload, int expire_seconds,
                          PublishRefused refused) {
  state_->publish(channel, payload, expire_seconds, std::move(refused));
}
void RedisEngine::publish_history(const std::string& channel, std::string_view payload,
                                  int expire_seconds, const HistoryRule& rule,
                                  PublishRefused refused) {
  state_->publish(channel, payload, expire_seconds, std::move(refused), rule);
}
void RedisEngine::read_history(const std::vector<std::string>& channels,
                               std::optional<StreamId> since, std::size_t limit,
                               HistoryCallback callback) {
  state_->read_history(channels, since, limit, std::move(callback));
}
void RedisEngine::get(const std::vector<std::string>& keys, GetCallback callback) {
  state_->get(keys, std::move(callback));
}
void RedisEngine::command(std::vector<std::string> argv, std::size_t max_reply_bytes,
                          CommandDone done) {
  state_->command(std::move(argv), max_reply_bytes, std::move(done));
}
void RedisEngine::barrier(std::function<void()> callback) {
  state_->barrier(std::move(callback));
}
void RedisEngine::when_published(std::function<void()> callback) {
  state_->when_published(std::move(callback));
}

}  // namespace wsrelay
