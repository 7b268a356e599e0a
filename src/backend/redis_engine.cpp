#include <wsrelay/backend/redis_engine.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>
#include <variant>

#include <spdlog/spdlog.h>

#include <wsrelay/backend/publish_queue.hpp>
#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/backend/subscriber_link.hpp>
#include <wsrelay/backend/subscription_tracker.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {
namespace {

// Why this value: ten silent seconds before a PING, ten more to answer it.
// Long enough that a Redis busy with a slow command is not taken for dead
// (it still answers other clients with -BUSY, which counts as a sign of
// life), short enough that a vanished host is noticed within half a minute.
constexpr std::chrono::milliseconds kHealthCheckInterval{10000};

}  // namespace

// Everything the engine owns, shared so that connection handlers can hold a
// weak_ptr: the RedisEngine front may be destroyed while completions are
// still queued on the executor. The logic lives in the two cores
// (subscriptions_, queue_); this class moves values between them and the
// connections, and keeps the metrics and the log lines.
class RedisEngine::State : public std::enable_shared_from_this<State> {
 public:
  State(const Config& config, net::any_io_executor executor, Metrics& metrics)
      : executor_(std::move(executor)),
        metrics_(metrics),
        queue_(config.redis_pending_max_messages, config.redis_pending_max_bytes),
        max_messages_(config.redis_pending_max_messages),
        max_bytes_(config.redis_pending_max_bytes),
        max_message_bytes_(config.redis_max_message_bytes),
        prefix_(config.prefix),
        history_(!config.history_rules.empty()) {
    RedisConnectionOptions options;
    options.endpoint = *config.redis;
    options.connect_timeout = std::chrono::milliseconds(config.redis_connect_timeout_ms);
    options.reconnect_min = std::chrono::milliseconds(config.redis_reconnect_min_ms);
    options.reconnect_max = std::chrono::milliseconds(config.redis_reconnect_max_ms);
    options.health_check_interval = kHealthCheckInterval;

    options.name = "subscriber";
    options.subscriber = true;
    options.max_message_bytes = config.redis_max_message_bytes;
    subscriber_ = std::make_unique<SubscriberLink>(executor_, options,
                                                   config.redis_subscriber_backlog_bytes, metrics);
    options.name = "command";
    options.subscriber = false;
    command_ = std::make_unique<RedisConnection>(executor_, options);
    if (config.redis->is_sentinel()) {
      master_name_ = config.redis->master_name;
      options.name = "sentinel";
      options.subscriber = true;
      options.sentinel_watch = true;
      options.max_message_bytes = 0;
      watch_ = std::make_unique<RedisConnection>(executor_, options);
    }
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
    link.on_push = [weak](const Push& push, const DeliveryHold& hold) {
      if (auto self = weak.lock()) self->on_push(push, hold);
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

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    subscriber_->stop();
    command_->stop();
    if (watch_) watch_->stop();
    queue_ = PublishQueue(max_messages_, max_bytes_);
    subscriptions_ = SubscriptionTracker();
    metrics_.redis_subscriber_up = 0;
    metrics_.redis_command_up = 0;
    metrics_.redis_channels = 0;
    metrics_.redis_pending_messages = 0;
  }

  bool ready() const { return !stopped_ && subscriber_->up() && command_->up(); }

  void subscribe(const std::vector<std::string>& channels) {
    if (stopped_ || channels.empty()) return;
    act(subscriptions_.subscribe(channels));
  }

  void unsubscribe(const std::vector<std::string>& channels) {
    if (stopped_ || channels.empty()) return;
    act(subscriptions_.unsubscribe(channels));
  }

  void barrier(std::function<void()> callback) {
    if (stopped_) return;
    act(subscriptions_.barrier(std::move(callback)));
  }

  void when_published(std::function<void()> callback) {
    if (stopped_) return;
    queue_.when_published(std::move(callback));
    notify_idle();
  }

  void publish(const std::string& channel, std::string_view payload, int expire_seconds,
               PublishRefused refused, std::optional<HistoryRule> history = std::nullopt) {
    if (stopped_) return;
    PublishOp op{channel, std::string(payload), expire_seconds, {}, std::move(history)};
    if (refused) {
      op.refused = [weak = weak_from_this(), refused](std::string_view error) {
        auto self = weak.lock();
        if (self) self->note_refused(error);
        refused(PublishRefusal{PublishRefusal::Kind::refused, std::string(error)});
      };
    }
    if (!queue_.publish(std::move(op))) {
      ++metrics_.messages_publish_dropped;
      std::uint64_t suppressed = 0;
      if (drop_log_.should_log(suppressed)) {
        spdlog::warn(
            "redis: publish dropped: {} message(s) / {} byte(s) already waiting for Redis "
            "(redis_pending_max_messages = {}, redis_pending_max_bytes = {}); {} other(s) "
            "dropped since the previous line",
            queue_.held_messages(), queue_.held_bytes(), max_messages_, max_bytes_, suppressed);
      }
      if (refused) net::post(executor_, [refused] { refused(PublishRefusal{}); });
      return;
    }
    count_pending();
    pump();
  }

  void read_history(const std::vector<std::string>& channels, std::optional<StreamId> since,
                    std::size_t limit, HistoryCallback callback) {
    if (stopped_) return;
    ReadOp op;
    op.command = history_read_args(true, prefix_, channels, since, limit);
    op.reply = [callback](const RespValue* reply) {
      if (reply == nullptr || reply->is_error()) return callback(std::nullopt);
      callback(*reply);
    };
    if (!queue_.read(std::move(op))) {
      net::post(executor_, [callback = std::move(callback)] { callback(std::nullopt); });
      return;
    }
    count_pending();
    pump();
  }

  void get(const std::vector<std::string>& keys, GetCallback callback) {
    if (stopped_) return;
    if (keys.empty()) {
      net::post(executor_, [callback = std::move(callback)] { callback({}); });
      return;
    }
    ReadOp read;
    read.keys = keys;
    read.done = callback;
    if (!queue_.read(std::move(read))) {
      net::post(executor_, [callback = std::move(callback), n = keys.size()] {
        callback(std::vector<std::optional<std::string>>(n));
      });
      return;
    }
    count_pending();
    pump();
  }

  // Straight onto the command connection, beside the publish queue: a
  // command is the answer to one client's request, so it is never held for
  // later (a client told redis_unavailable at once can retry or give up)
  // and never sent again (INCR twice is not INCR). Its reply is weighed
  // here, on the control thread, and only a reply within the bound is
  // copied and handed on.
  void command(std::vector<std::string> argv, std::size_t max_reply_bytes, CommandDone done) {
    WSRELAY_ASSERT_ON(executor_);
    if (stopped_) return;
    if (!command_->up()) {
      net::post(executor_, [done = std::move(done)] { done(CommandOutcome{}); });
      return;
    }
    const std::vector<std::string_view> args(argv.begin(), argv.end());
    command_->send(args, [weak = weak_from_this(), max_reply_bytes,
                          done = std::move(done)](const RespValue* reply) {
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      CommandOutcome outcome;
      if (reply == nullptr) {
        outcome.kind = CommandOutcome::Kind::lost;
      } else if (const std::size_t bytes = reply_bytes(*reply); bytes > max_reply_bytes) {
        outcome.kind = CommandOutcome::Kind::too_large;
        outcome.bytes = bytes;
      } else {
        outcome.kind = CommandOutcome::Kind::reply;
        outcome.reply = *reply;
      }
      done(std::move(outcome));
    });
  }

 private:
  // Writes what the subscriptions core asks for, then reports the rest.
  void act(SubscriptionTracker::Events events) {
    for (const auto& command : events.send)
      subscriber_->send(std::vector<std::string_view>(command.begin(), command.end()));
    for (auto& [channel, error] : events.refused) {
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
    for (const auto& channel : events.confirmed)
      if (handlers_.on_subscribed) handlers_.on_subscribed(channel);
    for (const auto& done : events.barriers_done)
      if (done) done();
    if (!events.unexpected_error.empty()) {
      std::uint64_t suppressed = 0;
      if (subscriber_error_log_.should_log(suppressed)) {
        spdlog::warn("redis subscriber: error reply: {} ({} other(s) since the previous line)",
                     events.unexpected_error, suppressed);
      }
    }
    if (events.settled) update_gate();
  }

  // Publishes go out only while the command connection is up and the
  // subscriber has re-subscribed every channel (PublishQueue), on the same
  // node: with Sentinel, the two connections follow a failover each on its
  // own thread, and a publish to the new master while the subscriber is
  // still on the old one would miss the gateway's own browsers.
  void update_gate() {
    queue_.set_open(command_->up() && subscriptions_.settled() &&
                    (!watch_ || command_->node() == subscriber_->node()));
    pump();
  }

  void pump() {
    while (command_->up()) {
      auto op = queue_.next();
      if (!op) break;
      if (auto* publish = std::get_if<PublishOp>(&*op)) {
        send_publish(std::move(*publish));
      } else {
        send_read(std::move(std::get<ReadOp>(*op)));
      }
    }
    count_pending();
  }

  void count_pending() {
    metrics_.redis_pending_messages = static_cast<std::int64_t>(queue_.held_messages());
  }

  void notify_idle() {
    auto waiters = queue_.idle_waiters();
    if (waiters.empty()) return;
    net::post(executor_, [weak = weak_from_this(), waiters = std::move(waiters)] {
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      for (const auto& waiter : waiters) waiter();
    });
  }

  void note_refused(std::string_view error) {
    ++metrics_.redis_publish_refused;
    std::uint64_t suppressed = 0;
    if (publish_refused_log_.should_log(suppressed)) {
      spdlog::warn(
          "redis command: publish refused: {}; its sender is closed with 1008 ({} other(s) "
          "since the previous line)",
          error, suppressed);
    }
  }

  // PUBLISH, then SET EX when the message is stored: one operation, answered
  // when its last reply arrives. An error in either is a refusal.
  void send_publish(PublishOp op) {
    struct InFlight {
      PublishOp op;
      std::string error;
    };
    auto flight = std::make_shared<InFlight>(InFlight{std::move(op), {}});
    std::weak_ptr<State> weak = weak_from_this();
    auto first = [flight](const RespValue* reply) {
      if (reply != nullptr && reply->is_error() && flight->error.empty())
        flight->error = reply->str;
    };
    auto last = [weak, flight, first](const RespValue* reply) {
      first(reply);
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      if (reply == nullptr) {
        flight->error.clear();
        self->queue_.lost(std::move(flight->op));
        return;
      }
      self->queue_.answered(flight->op, flight->error);
      self->count_pending();
      self->notify_idle();
    };
    const PublishOp& sent = flight->op;
    if (sent.history) {
      send_script(history_publish_args(true, prefix_, sent.channel, sent.payload, *sent.history,
                                       sent.expire_seconds),
                  last);
    } else if (sent.expire_seconds > 0) {
      command_->send({"PUBLISH", sent.channel, sent.payload}, first);
      const std::string expire = std::to_string(sent.expire_seconds);
      command_->send({"SET", sent.channel, sent.payload, "EX", expire}, last);
    } else {
      command_->send({"PUBLISH", sent.channel, sent.payload}, last);
    }
  }

  // EVALSHA of one of the history scripts (loaded when the connection came
  // up); when Redis has lost it (SCRIPT FLUSH), the same call as EVAL.
  // `done` gets nullptr when the connection is down or drops first.
  void send_script(std::vector<std::string> args, RedisConnection::ReplyCallback done) {
    auto on_reply = [weak = weak_from_this(), args, done](const RespValue* reply) {
      auto self = weak.lock();
      if (self && !self->stopped_ && reply != nullptr && reply->is_error() &&
          reply->str.starts_with("NOSCRIPT")) {
        auto eval = args;
        eval[0] = "EVAL";
        eval[1] = std::string(eval[1] == history_publish_sha() ? history_publish_script()
                                                               : history_read_script());
        if (!self->command_->send(std::vector<std::string_view>(eval.begin(), eval.end()), done))
          done(nullptr);
        return;
      }
      done(reply);
    };
    if (!command_->send(std::vector<std::string_view>(args.begin(), args.end()), on_reply))
      done(nullptr);
  }

  // One GETRANGE per key, pipelined: at most max_message_bytes + 1 bytes of
  // a stored value come back, so an oversized one is told without being
  // read whole.
  void send_read(ReadOp op) {
    if (!op.command.empty()) {
      send_script(std::move(op.command), [reply = std::move(op.reply)](const RespValue* value) {
        if (value != nullptr && value->is_error())
          spdlog::warn("redis command: history read failed: {}", value->str);
        reply(value);
      });
      return;
    }
    struct Read {
      std::vector<std::string> keys;
      std::function<void(std::vector<std::optional<std::string>>)> done;
      std::vector<std::optional<std::string>> values;
      std::size_t answered = 0;
    };
    auto read = std::make_shared<Read>();
    read->keys = std::move(op.keys);
    read->done = std::move(op.done);
    read->values.resize(read->keys.size());
    const std::string last = std::to_string(max_message_bytes_);
    for (std::size_t i = 0; i < read->keys.size(); ++i) {
      command_->send({"GETRANGE", read->keys[i], "0", last}, [weak = weak_from_this(), read,
                                                              i](const RespValue* reply) {
        auto self = weak.lock();
        if (!self || self->stopped_) return;
        if (reply != nullptr && reply->is_error()) self->log_command_error(*reply);
        if (reply != nullptr && reply->type == RespValue::Type::string && !reply->str.empty()) {
          if (reply->str.size() > self->max_message_bytes_) {
            if (self->handlers_.on_oversized)
              self->handlers_.on_oversized(read->keys[i], reply->str.size());
          } else {
            read->values[i] = reply->str;
          }
        }
        if (++read->answered == read->keys.size()) read->done(std::move(read->values));
      });
    }
  }

  void on_subscriber_state(bool up) {
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

  void on_command_state(bool up) {
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

  void on_push(const Push& push, const DeliveryHold& hold) {
    WSRELAY_ASSERT_ON(executor_);
    if (stopped_) return;
    if (push.kind == Push::Kind::message) {
      ++metrics_.messages_from_redis;
      if (subscriptions_.wants(push.channel) && handlers_.on_message)
        handlers_.on_message(push.channel, push.payload, hold, push.received);
      return;
    }
    if (push.kind == Push::Kind::oversized) {
      ++metrics_.messages_from_redis;
      if (subscriptions_.wants(push.channel) && handlers_.on_oversized)
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
  void on_sentinel_event(const Push& push) {
    WSRELAY_ASSERT_ON(executor_);
    if (stopped_ || push.kind != Push::Kind::message || push.channel != switch_master_channel)
      return;
    const auto address = read_switch_master(push.payload, master_name_);
    if (!address) return;
    spdlog::info("redis sentinel: master \"{}\" switched to {}; following it", master_name_,
                 describe_host_port(*address));
    command_->follow_master(*address);
    subscriber_->follow_master(*address);
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
  SubscriptionTracker subscriptions_;
  PublishQueue queue_;
  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::size_t max_message_bytes_;
  std::string prefix_;
  bool history_;  // history.facilities set: the scripts are loaded on every connection
  std::unique_ptr<SubscriberLink> subscriber_;
  std::unique_ptr<RedisConnection> command_;
  // Sentinel endpoints: a connection to one sentinel at a time, subscribed
  // to +switch-master.
  std::unique_ptr<RedisConnection> watch_;
  std::string master_name_;
  EngineHandlers handlers_;
  bool started_ = false;
  bool stopped_ = false;
  bool subscriber_ever_up_ = false;
  bool command_ever_up_ = false;
  RateLimitedLog drop_log_;
  RateLimitedLog command_error_log_;
  RateLimitedLog subscriber_error_log_;
  RateLimitedLog publish_refused_log_;
  RateLimitedLog subscribe_refused_log_;
};

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
