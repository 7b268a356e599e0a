#include <wsrelay/redis_engine.hpp>
#include <wsrelay/string_hash.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include <wsrelay/config.hpp>
#include <wsrelay/metrics.hpp>
#include <wsrelay/rate_limited_log.hpp>
#include <wsrelay/redis_connection.hpp>
#include <wsrelay/resp.hpp>
#include <wsrelay/subscriber_link.hpp>

namespace wsrelay {
namespace {

// Redis accepts any number of arguments, but one huge SUBSCRIBE holds its
// event loop and our output buffer for long; chunks keep both short.
constexpr std::size_t kMaxChannelsPerCommand = 1000;

// Why this value: ten silent seconds before a PING, ten more to answer it.
// Long enough that a Redis busy with a slow command is not taken for dead
// (it still answers other clients with -BUSY, which counts as a sign of
// life), short enough that a vanished host is noticed within half a minute.
constexpr std::chrono::milliseconds kHealthCheckInterval{10000};

using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

std::string describe(const RedisEndpoint& endpoint) {
  if (endpoint.is_unix) return "unix:" + endpoint.path;
  return endpoint.host + ":" + std::to_string(endpoint.port);
}

}  // namespace

// Everything the engine owns, shared so that connection handlers can hold a
// weak_ptr: the RedisEngine front may be destroyed while completions are
// still queued on the executor.
class RedisEngine::State : public std::enable_shared_from_this<State> {
 public:
  State(const Config& config, net::any_io_executor executor, Metrics& metrics)
      : executor_(std::move(executor)),
        metrics_(metrics),
        max_messages_(config.redis_pending_max_messages),
        max_bytes_(config.redis_pending_max_bytes) {
    RedisConnectionOptions options;
    options.endpoint = *config.redis;
    options.connect_timeout = std::chrono::milliseconds(config.redis_connect_timeout_ms);
    options.reconnect_min = std::chrono::milliseconds(config.redis_reconnect_min_ms);
    options.reconnect_max = std::chrono::milliseconds(config.redis_reconnect_max_ms);
    options.health_check_interval = kHealthCheckInterval;

    options.name = "subscriber";
    options.subscriber = true;
    subscriber_ = std::make_unique<SubscriberLink>(executor_, options,
                                                   config.redis_subscriber_backlog_bytes, metrics);
    options.name = "command";
    options.subscriber = false;
    command_ = std::make_unique<RedisConnection>(executor_, options);
  }

  void start(EngineHandlers handlers) {
    if (started_ || stopped_) return;
    started_ = true;
    handlers_ = std::move(handlers);
    std::weak_ptr<State> weak = weak_from_this();
    SubscriberLink::Handlers link;
    link.on_state = [weak](bool up) {
      if (auto self = weak.lock()) self->on_subscriber_state(up);
    };
    link.on_push = [weak](const RespValue& reply, const DeliveryHold& hold) {
      if (auto self = weak.lock()) self->on_push(reply, hold);
    };
    link.on_gap = [weak](std::vector<std::string> channels) {
      auto self = weak.lock();
      if (self && !self->stopped_ && self->handlers_.on_gap)
        self->handlers_.on_gap(std::move(channels));
    };
    subscriber_->start(std::move(link));
    command_->start([weak](bool up) {
      if (auto self = weak.lock()) self->on_command_state(up);
    });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    subscriber_->stop();
    command_->stop();
    queued_.clear();
    barriers_.clear();
    published_waiters_.clear();
    outstanding_.clear();
    subscribe_commands_.clear();
    held_messages_ = 0;
    held_bytes_ = 0;
    metrics_.redis_subscriber_up = 0;
    metrics_.redis_command_up = 0;
    metrics_.redis_channels = 0;
    metrics_.redis_pending_messages = 0;
  }

  bool ready() const { return !stopped_ && subscriber_->up() && command_->up(); }

  void subscribe(const std::vector<std::string>& channels) {
    if (stopped_ || channels.empty()) return;
    for (const auto& channel : channels) wanted_.insert(channel);
    if (subscriber_->up()) send_subscribe(channels.begin(), channels.end());
  }

  void unsubscribe(const std::vector<std::string>& channels) {
    if (stopped_ || channels.empty()) return;
    for (const auto& channel : channels) wanted_.erase(channel);
    if (!subscriber_->up()) return;
    // Never an UNSUBSCRIBE without arguments: that would drop every channel.
    for (std::size_t begin = 0; begin < channels.size(); begin += kMaxChannelsPerCommand) {
      const std::size_t end = std::min(channels.size(), begin + kMaxChannelsPerCommand);
      std::vector<std::string_view> args{"UNSUBSCRIBE"};
      args.insert(args.end(), channels.begin() + begin, channels.begin() + end);
      subscriber_->send(args);
    }
  }

  void barrier(std::function<void()> callback) {
    if (stopped_) return;
    barriers_.push_back(std::move(callback));
    if (subscriber_->up()) subscriber_->send({"PING"});
  }

  void when_published(std::function<void()> callback) {
    if (stopped_) return;
    published_waiters_.push_back(std::move(callback));
    if (held_messages_ == 0) notify_published();
  }

  bool publish(const std::string& channel, std::string_view payload, int expire_seconds) {
    if (stopped_) return false;
    const std::size_t bytes = channel.size() + payload.size();
    if (!hold(bytes)) {
      ++metrics_.messages_publish_dropped;
      std::uint64_t suppressed = 0;
      if (drop_log_.should_log(suppressed)) {
        spdlog::warn(
            "redis: publish dropped: {} message(s) / {} byte(s) already waiting for Redis "
            "(redis_pending_max_messages = {}, redis_pending_max_bytes = {}); {} other(s) "
            "dropped since the previous line",
            held_messages_, held_bytes_, max_messages_, max_bytes_, suppressed);
      }
      return false;
    }
    if (command_->up() && queued_.empty()) {
      send_publish(channel, payload, expire_seconds, bytes);
    } else {
      queued_.push_back(Op{channel, std::string(payload), expire_seconds, {}, {}, bytes});
    }
    return true;
  }

  void get(const std::vector<std::string>& keys, GetCallback callback) {
    if (stopped_) return;
    if (keys.empty()) {
      net::post(executor_, [callback = std::move(callback)] { callback({}); });
      return;
    }
    if (command_->up() && queued_.empty()) return send_get(keys, std::move(callback));
    std::size_t bytes = 0;
    for (const auto& key : keys) bytes += key.size();
    if (!hold(bytes)) {
      net::post(executor_, [callback = std::move(callback), n = keys.size()] {
        callback(std::vector<std::optional<std::string>>(n));
      });
      return;
    }
    queued_.push_back(Op{{}, {}, 0, keys, std::move(callback), bytes});
  }

 private:
  // A publish (keys empty) or a get (callback set) waiting for the command
  // connection.
  struct Op {
    std::string channel;
    std::string payload;
    int expire_seconds = 0;
    std::vector<std::string> keys;
    GetCallback callback;
    std::size_t bytes = 0;
  };

  // Publishes are held (counted against redis_pending_max_*) from publish()
  // until Redis answers them, so the bound covers both a Redis that is down
  // and one that falls behind. Gets are held only while queued.
  bool hold(std::size_t bytes) {
    if (held_messages_ + 1 > max_messages_ || held_bytes_ + bytes > max_bytes_) return false;
    ++held_messages_;
    held_bytes_ += bytes;
    metrics_.redis_pending_messages = static_cast<std::int64_t>(held_messages_);
    return true;
  }

  void release(std::size_t bytes) {
    if (held_messages_ > 0) --held_messages_;
    held_bytes_ -= std::min(held_bytes_, bytes);
    metrics_.redis_pending_messages = static_cast<std::int64_t>(held_messages_);
    if (held_messages_ == 0 && !published_waiters_.empty()) notify_published();
  }

  void notify_published() {
    net::post(executor_,
              [weak = weak_from_this(), waiters = std::exchange(published_waiters_, {})] {
                auto self = weak.lock();
                if (!self || self->stopped_) return;
                for (const auto& waiter : waiters) waiter();
              });
  }

  void send_publish(std::string_view channel, std::string_view payload, int expire_seconds,
                    std::size_t bytes) {
    std::weak_ptr<State> weak = weak_from_this();
    auto check = [weak](const RespValue* reply) {
      auto self = weak.lock();
      if (self && reply != nullptr && reply->is_error()) self->log_command_error(*reply);
    };
    // A publish whose connection dropped before Redis answered is sent
    // again after the reconnect, ahead of anything queued since: Redis may
    // have run it (a duplicate), but a client message is never lost silently.
    auto done = [weak, bytes, check, channel = std::string(channel), payload = std::string(payload),
                 expire_seconds](const RespValue* reply) {
      check(reply);
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      if (reply == nullptr) {
        self->queued_.insert(self->queued_.begin() + static_cast<std::ptrdiff_t>(self->requeued_++),
                             Op{channel, payload, expire_seconds, {}, {}, bytes});
        return;
      }
      self->release(bytes);
    };
    if (expire_seconds > 0) {
      command_->send({"PUBLISH", channel, payload}, check);
      const std::string expire = std::to_string(expire_seconds);
      command_->send({"SET", channel, payload, "EX", expire}, done);
    } else {
      command_->send({"PUBLISH", channel, payload}, done);
    }
  }

  void send_get(const std::vector<std::string>& keys, GetCallback callback) {
    std::vector<std::string_view> args{"MGET"};
    args.insert(args.end(), keys.begin(), keys.end());
    command_->send(args, [weak = weak_from_this(), n = keys.size(),
                          callback = std::move(callback)](const RespValue* reply) {
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      std::vector<std::optional<std::string>> values(n);
      if (reply != nullptr && reply->is_error()) self->log_command_error(*reply);
      if (reply != nullptr && reply->type == RespValue::Type::array &&
          reply->elements.size() == n) {
        for (std::size_t i = 0; i < n; ++i) {
          if (reply->elements[i].type == RespValue::Type::string) {
            values[i] = reply->elements[i].str;
          }
        }
      }
      callback(std::move(values));
    });
  }

  template <typename It>
  void send_subscribe(It first, It last) {
    while (first != last) {
      std::vector<std::string_view> args{"SUBSCRIBE"};
      SubscribeCommand command;
      for (; first != last && args.size() <= kMaxChannelsPerCommand; ++first) {
        args.emplace_back(*first);
        command.channels.emplace_back(*first);
        ++outstanding_[*first];
      }
      subscriber_->send(args);
      subscribe_commands_.push_back(std::move(command));
    }
  }

  // An error reply on the subscriber answers the oldest SUBSCRIBE not fully
  // acknowledged (replies come in command order, and a SUBSCRIBE's acks come
  // in one run). Redis refuses a whole SUBSCRIBE when one of its channels is
  // not allowed to the user (ACL), so a refused batch is retried one channel
  // at a time: only the channels really refused are reported, the others
  // are subscribed as usual.
  bool on_subscribe_error(std::string_view error) {
    if (subscribe_commands_.empty() || !error.starts_with("NOPERM")) return false;
    SubscribeCommand command = std::move(subscribe_commands_.front());
    subscribe_commands_.pop_front();
    std::vector<std::string> retry;
    for (std::size_t i = command.acked; i < command.channels.size(); ++i) {
      const std::string& channel = command.channels[i];
      auto it = outstanding_.find(channel);
      if (it != outstanding_.end() && --it->second == 0) outstanding_.erase(it);
      if (!wanted_.contains(channel) || outstanding_.contains(channel)) continue;
      if (command.channels.size() - command.acked > 1) {
        retry.push_back(channel);
        continue;
      }
      ++metrics_.redis_subscribe_refused;
      spdlog::warn("redis subscriber: SUBSCRIBE {} refused: {}; closing its sessions", channel,
                   error);
      if (handlers_.on_refused) handlers_.on_refused(channel, error);
    }
    for (const auto& channel : retry) send_subscribe(&channel, &channel + 1);
    return true;
  }

  void on_subscriber_state(bool up) {
    if (stopped_) return;
    metrics_.redis_subscriber_up = up ? 1 : 0;
    metrics_.redis_channels = 0;
    // Acks of the old connection will never come; a new SUBSCRIBE replaces them.
    outstanding_.clear();
    subscribe_commands_.clear();
    if (up) {
      if (subscriber_ever_up_) ++metrics_.redis_reconnects;
      subscriber_ever_up_ = true;
      send_subscribe(wanted_.begin(), wanted_.end());
      // The PINGs of pending barriers were lost with the old connection.
      for (std::size_t i = 0; i < barriers_.size(); ++i) subscriber_->send({"PING"});
    }
    if (handlers_.on_link) handlers_.on_link(up);
    if (handlers_.on_ready) handlers_.on_ready(ready());
  }

  void on_command_state(bool up) {
    if (stopped_) return;
    metrics_.redis_command_up = up ? 1 : 0;
    if (handlers_.on_ready) handlers_.on_ready(ready());
    if (!up) return;
    if (command_ever_up_) ++metrics_.redis_reconnects;
    command_ever_up_ = true;
    requeued_ = 0;
    while (!queued_.empty() && command_->up()) {
      Op op = std::move(queued_.front());
      queued_.pop_front();
      if (op.callback) {
        release(op.bytes);
        send_get(op.keys, std::move(op.callback));
      } else {
        send_publish(op.channel, op.payload, op.expire_seconds, op.bytes);
      }
    }
  }

  void on_push(const RespValue& reply, const DeliveryHold& hold) {
    if (stopped_) return;
    const Push push = classify_push(reply);
    switch (push.kind) {
      case Push::Kind::message:
        ++metrics_.messages_from_redis;
        // A message can still be in flight after UNSUBSCRIBE was sent.
        if (wanted_.contains(push.channel) && handlers_.on_message) {
          handlers_.on_message(push.channel, push.payload, hold);
        }
        return;
      case Push::Kind::subscribed: {
        metrics_.redis_channels = push.count;
        if (!subscribe_commands_.empty() &&
            ++subscribe_commands_.front().acked == subscribe_commands_.front().channels.size())
          subscribe_commands_.pop_front();
        auto it = outstanding_.find(push.channel);
        if (it == outstanding_.end()) return;
        if (--it->second > 0) return;  // a later SUBSCRIBE of it is still unanswered
        outstanding_.erase(it);
        if (wanted_.contains(push.channel) && handlers_.on_subscribed) {
          handlers_.on_subscribed(std::string(push.channel));
        }
        return;
      }
      case Push::Kind::unsubscribed:
        metrics_.redis_channels = push.count;
        return;
      case Push::Kind::pong: {
        if (barriers_.empty()) return;
        auto callback = std::move(barriers_.front());
        barriers_.pop_front();
        if (callback) callback();
        return;
      }
      case Push::Kind::error: {
        if (on_subscribe_error(push.payload)) return;
        std::uint64_t suppressed = 0;
        if (subscriber_error_log_.should_log(suppressed)) {
          spdlog::warn("redis subscriber: error reply: {} ({} other(s) since the previous line)",
                       push.payload, suppressed);
        }
        return;
      }
      case Push::Kind::other:
        spdlog::debug("redis subscriber: unexpected reply ignored");
        return;
    }
  }

  void log_command_error(const RespValue& reply) {
    std::uint64_t suppressed = 0;
    if (command_error_log_.should_log(suppressed)) {
      spdlog::warn("redis command: error reply: {} ({} other(s) since the previous line)",
                   reply.str, suppressed);
    }
  }

  net::any_io_executor executor_;
  Metrics& metrics_;
  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::unique_ptr<SubscriberLink> subscriber_;
  std::unique_ptr<RedisConnection> command_;
  EngineHandlers handlers_;
  bool started_ = false;
  bool stopped_ = false;
  bool subscriber_ever_up_ = false;
  bool command_ever_up_ = false;

  StringSet wanted_;
  // SUBSCRIBEs sent on the current connection and not yet acknowledged:
  // per channel, and per command in sending order.
  StringMap<int> outstanding_;
  struct SubscribeCommand {
    std::vector<std::string> channels;
    std::size_t acked = 0;
  };
  std::deque<SubscribeCommand> subscribe_commands_;
  std::deque<std::function<void()>> barriers_;
  std::vector<std::function<void()>> published_waiters_;

  std::deque<Op> queued_;
  std::size_t requeued_ = 0;  // unanswered publishes put back at the front of queued_
  std::size_t held_messages_ = 0;
  std::size_t held_bytes_ = 0;
  RateLimitedLog drop_log_;
  RateLimitedLog command_error_log_;
  RateLimitedLog subscriber_error_log_;
};

RedisEngine::RedisEngine(const Config& config, net::any_io_executor control, Metrics& metrics)
    : state_(std::make_shared<State>(config, std::move(control), metrics)) {
  spdlog::info("engine: redis at {} db {}", describe(*config.redis), config.redis->db);
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
bool RedisEngine::publish(const std::string& channel, std::string_view payload,
                          int expire_seconds) {
  return state_->publish(channel, payload, expire_seconds);
}
void RedisEngine::get(const std::vector<std::string>& keys, GetCallback callback) {
  state_->get(keys, std::move(callback));
}
void RedisEngine::barrier(std::function<void()> callback) {
  state_->barrier(std::move(callback));
}
void RedisEngine::when_published(std::function<void()> callback) {
  state_->when_published(std::move(callback));
}

}  // namespace wsrelay
