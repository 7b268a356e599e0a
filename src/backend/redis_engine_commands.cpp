// RedisEngine::State, the command connection's side (the class:
// redis_engine_state.hpp): publishes, history reads, GETs and commands from
// clients; the publish queue (PublishQueue) and its gate, pumped onto the
// command connection in order; the history scripts sent by SHA-1, and
// again in full when Redis has lost them. Everything else the State does
// is in redis_engine.cpp.
#include <wsrelay/backend/redis_engine_state.hpp>

#include <cctype>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/command_table.hpp>

namespace wsrelay {
namespace {

// The command channel's command's first key (command_table.hpp), by which a
// cluster routes it; empty for a command without one.
std::string_view first_key(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return {};
  std::string name = argv[0];
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const CommandSpec* spec = find_command(name);
  if (spec == nullptr || spec->keys == KeySpec::none) return {};
  return argv[1];
}

}  // namespace

void RedisEngine::State::when_published(std::function<void()> callback) {
  if (stopped_) return;
  queue_.when_published(std::move(callback));
  notify_idle();
}

void RedisEngine::State::publish(const std::string& channel, std::string_view payload,
                                 int expire_seconds, PublishRefused refused,
                                 std::optional<HistoryRule> history) {
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

void RedisEngine::State::read_history(const std::vector<std::string>& channels,
                                      std::optional<StreamId> since, std::size_t limit,
                                      HistoryCallback callback) {
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

void RedisEngine::State::get(const std::vector<std::string>& keys, GetCallback callback) {
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
void RedisEngine::State::command(std::vector<std::string> argv, std::size_t max_reply_bytes,
                                 CommandDone done) {
  WSRELAY_ASSERT_ON(executor_);
  if (stopped_) return;
  if (!command_up()) {
    net::post(executor_, [done = std::move(done)] { done(CommandOutcome{}); });
    return;
  }
  const std::vector<std::string_view> args(argv.begin(), argv.end());
  auto answer = std::make_shared<CommandDone>(std::move(done));
  const bool sent = send_command(
      first_key(argv), args,
      [weak = weak_from_this(), max_reply_bytes, answer](const RespValue* reply) {
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
        (*answer)(std::move(outcome));
      },
      false);
  // Not written (with a cluster: no master's connection up at this instant):
  // unavailable, as when down.
  if (!sent) net::post(executor_, [answer] { (*answer)(CommandOutcome{}); });
}

// Publishes go out only while the command connection is up and the
// subscriber has re-subscribed every channel (PublishQueue), on the same
// node: with Sentinel, the two connections follow a failover each on its
// own thread, and a publish to the new master while the subscriber is
// still on the old one would miss the gateway's own browsers.
void RedisEngine::State::update_gate() {
  queue_.set_open(command_settled() && subscriptions_settled() &&
                  (!watch_ || command_->node() == subscriber_->node()));
  pump();
}

void RedisEngine::State::pump() {
  while (command_settled()) {
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

void RedisEngine::State::count_pending() {
  metrics_.redis_pending_messages = static_cast<std::int64_t>(queue_.held_messages());
}

void RedisEngine::State::notify_idle() {
  auto waiters = queue_.idle_waiters();
  if (waiters.empty()) return;
  net::post(executor_, [weak = weak_from_this(), waiters = std::move(waiters)] {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    for (const auto& waiter : waiters) waiter();
  });
}

void RedisEngine::State::note_refused(std::string_view error) {
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
void RedisEngine::State::send_publish(PublishOp op) {
  struct InFlight {
    PublishOp op;
    std::string error;
    bool lost = false;  // a part's connection dropped before it answered
  };
  auto flight = std::make_shared<InFlight>(InFlight{std::move(op), {}, false});
  std::weak_ptr<State> weak = weak_from_this();
  auto first = [flight](const RespValue* reply) {
    if (reply == nullptr) flight->lost = true;
    if (reply != nullptr && reply->is_error() && flight->error.empty()) flight->error = reply->str;
  };
  // With a cluster the PUBLISH and the SET go on two connections: the op
  // is answered only when both were, and lost (sent again) when either
  // was cut off.
  auto last = [weak, flight, first](const RespValue* reply) {
    first(reply);
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    if (flight->lost) {
      flight->error.clear();
      self->queue_.lost(std::move(flight->op));
      self->repump();
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
    const std::string expire = std::to_string(sent.expire_seconds);
    if (!publish_command(sent, first) ||
        !send_command(sent.channel, {"SET", sent.channel, sent.payload, "EX", expire}, last))
      unsent(last);
  } else if (!publish_command(sent, last)) {
    unsent(last);
  }
}

// EVALSHA of one of the history scripts (loaded when the connection came
// up); when Redis has lost it (SCRIPT FLUSH), the same call as EVAL.
// `done` gets nullptr when the connection is down or drops first.
void RedisEngine::State::send_script(std::vector<std::string> args,
                                     RedisConnection::ReplyCallback done) {
  auto on_reply = [weak = weak_from_this(), args, done](const RespValue* reply) {
    auto self = weak.lock();
    if (self && !self->stopped_ && reply != nullptr && reply->is_error() &&
        reply->str.starts_with("NOSCRIPT")) {
      auto eval = args;
      eval[0] = "EVAL";
      eval[1] = std::string(eval[1] == history_publish_sha() ? history_publish_script()
                                                             : history_read_script());
      if (!self->send_command({}, std::vector<std::string_view>(eval.begin(), eval.end()), done))
        done(nullptr);
      return;
    }
    done(reply);
  };
  if (!send_command({}, std::vector<std::string_view>(args.begin(), args.end()), on_reply))
    done(nullptr);
}

// One GETRANGE per key, pipelined: at most max_message_bytes + 1 bytes of
// a stored value come back, so an oversized one is told without being
// read whole.
void RedisEngine::State::send_read(ReadOp op) {
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
    RedisConnection::ReplyCallback answer = [weak = weak_from_this(), read,
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
    };
    if (!send_command(read->keys[i], {"GETRANGE", read->keys[i], "0", last}, answer))
      unsent(std::move(answer));
  }
}

bool RedisEngine::State::send_command(std::string_view key,
                                      const std::vector<std::string_view>& args,
                                      RedisConnection::ReplyCallback done, bool ordered) {
  if (cluster_) return cluster_->send(key, args, std::move(done), ordered);
  return command_->send(args, std::move(done));
}

// PUBLISH has no key: with a cluster every one leaves on one connection
// (cluster_commands.hpp: send_unkeyed), so they reach the cluster in order.
// SPUBLISH (redis.sharded) goes to the master of the channel's slot, where
// its subscribers are, in the order made (ordered, as SET).
bool RedisEngine::State::publish_command(const PublishOp& op, RedisConnection::ReplyCallback done) {
  if (sharded_)
    return cluster_->send(op.channel, {"SPUBLISH", op.channel, op.payload}, std::move(done));
  if (cluster_) return cluster_->send_unkeyed({"PUBLISH", op.channel, op.payload}, std::move(done));
  return command_->send({"PUBLISH", op.channel, op.payload}, std::move(done));
}

// A publish went back to the queue: it goes out again as soon as the gate
// is open, without waiting for a change of the connections' state (with a
// cluster, one connection may drop while the others keep the gate open).
// Posted once per turn, so a pump never re-enters itself.
void RedisEngine::State::repump() {
  if (repump_posted_) return;
  repump_posted_ = true;
  net::post(executor_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self || self->stopped_) return;
    self->repump_posted_ = false;
    self->pump();
  });
}

// A command that could not be written (its connection went down under the
// pump) is answered as lost, from a posted task: a publish goes back to the
// queue, ahead of the rest, without re-entering the pump that took it.
void RedisEngine::State::unsent(RedisConnection::ReplyCallback done) {
  net::post(executor_, [done = std::move(done)] { done(nullptr); });
}

void RedisEngine::State::log_command_error(const RespValue& reply) {
  std::uint64_t suppressed = 0;
  if (command_error_log_.should_log(suppressed)) {
    spdlog::warn("redis command: error reply: {} ({} other(s) since the previous line)", reply.str,
                 suppressed);
  }
}

}  // namespace wsrelay
