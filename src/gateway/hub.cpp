#include <wsrelay/gateway/hub.hpp>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/printable.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

Hub::Hub(net::io_context& control, Engine& engine, Metrics& metrics)
    : control_(control), engine_(engine), metrics_(metrics) {}

void Hub::start() {
  WSRELAY_ASSERT_ON(control_.get_executor());
  EngineHandlers handlers;
  handlers.on_message = [this](std::string_view channel, std::string_view payload,
                               const DeliveryHold& hold, Message::clock::time_point received) {
    on_message(channel, payload, hold, received);
  };
  handlers.on_subscribed = [this](const std::string& channel) { on_subscribed(channel); };
  handlers.on_link = [this](bool up) { on_link(up); };
  handlers.on_unconfirmed = [this](const std::vector<std::string>& channels) {
    if (channels.empty()) return;  // interrupt_history({}) would mean every channel
    table_.link_down(channels);
    interrupt_history(channels);
  };
  handlers.on_refused = [this](const std::string& channel, std::string_view why) {
    on_refused(channel, why);
  };
  handlers.on_gap = [this](std::vector<std::string> channels) { on_gap(std::move(channels)); };
  handlers.on_oversized = [this](std::string_view channel, std::size_t bytes) {
    on_oversized(channel, bytes);
  };
  handlers.on_ready = [this](bool ready) { ready_.store(ready, std::memory_order_relaxed); };
  engine_.start(std::move(handlers));
  // ready() is read from every shard; the engine's state lives here, so it
  // is mirrored into an atomic: now, then on every change (on_ready).
  ready_.store(engine_.ready(), std::memory_order_relaxed);
}

void Hub::stop() {
  WSRELAY_ASSERT_ON(control_.get_executor());
  stopped_ = true;
  ready_.store(false);
  engine_.stop();
}

void Hub::shard_subscribed(std::size_t shard, std::vector<std::string> channels) {
  net::post(control_, [this, shard, channels = std::move(channels)] {
    if (table_.shard_subscribed(static_cast<ChannelTable::ShardIndex>(shard), channels))
      schedule_flush();
  });
}

void Hub::shard_unsubscribed(std::size_t shard, std::vector<std::string> channels) {
  net::post(control_, [this, shard, channels = std::move(channels)] {
    std::vector<ChannelTable::Request> ready;
    if (table_.shard_unsubscribed(static_cast<ChannelTable::ShardIndex>(shard), channels, ready))
      schedule_flush();
    for (auto& request : ready) proceed(request);
  });
}

void Hub::open(std::size_t shard, std::vector<std::string> channels, std::weak_ptr<void> owner,
               std::function<void()> confirmed, ReplayCallback done,
               std::shared_ptr<ChannelTable::HistoryOpen> history) {
  auto request = std::make_shared<ChannelTable::OpenRequest>(ChannelTable::OpenRequest{
      static_cast<ChannelTable::ShardIndex>(shard), std::move(channels), 0, std::move(owner),
      std::move(confirmed), std::move(done), std::move(history)});
  net::post(control_, [this, request] {
    if (table_.open(request)) proceed(request);
  });
}

void Hub::proceed(const ChannelTable::Request& request) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  if (stopped_ || request->owner.expired()) return;
  // Every channel is confirmed and has this shard in its list (the shard's
  // shard_subscribed was posted before its open, from the same thread, and
  // this executor runs posts in order): whatever Redis sends from now on
  // reaches the shard. `confirmed`, every later message for the shard and
  // `done` all go through the shard's queue in the order posted, so the
  // session holds the live messages that arrive before its replay
  // (docs/architecture.md, "Threads", ordering 1-3).
  net::post(shards_[request->shard]->context(), std::move(request->confirmed));
  if (request->history) return proceed_history(request);
  // A live-only key (a pattern, a route without replay) is not read: its
  // value stays nullopt, and nothing is replayed for it.
  std::vector<std::string> keys;
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < request->channels.size(); ++i) {
    if (live_only_.contains(request->channels[i])) continue;
    keys.push_back(request->channels[i]);
    at.push_back(i);
  }
  if (keys.empty()) {
    net::post(shards_[request->shard]->context(),
              [done = std::move(request->done), n = request->channels.size()] {
                done(std::vector<std::optional<std::string>>(n));
              });
    return;
  }
  engine_.get(keys,
              [this, request, at = std::move(at)](std::vector<std::optional<std::string>> read) {
                std::vector<std::optional<std::string>> values(request->channels.size());
                for (std::size_t i = 0; i < read.size() && i < at.size(); ++i)
                  values[at[i]] = std::move(read[i]);
                // The stored values were read on the command connection; messages the
                // subscriber received before that read may still be in flight to us. The
                // barrier makes sure they reached the shards before the replay does
                // (both go to the shard through its queue, in the order posted).
                engine_.barrier([this, request, values = std::move(values)]() mutable {
                  std::vector<std::optional<std::uint64_t>> hashes(values.size());
                  for (std::size_t i = 0; i < values.size() && i < request->channels.size(); ++i)
                    if (values[i]) hashes[i] = Message::hash_of(request->channels[i], *values[i]);
                  table_.replayed(request, hashes);
                  net::post(shards_[request->shard]->context(),
                            [done = std::move(request->done),
                             values = std::move(values)]() mutable { done(std::move(values)); });
                });
              });
}

// The history resume (docs/history.md, "Resume"): the channels are
// confirmed and the session holds live messages from here on; one script
// reads every channel's stream at one instant, and the barrier lets every
// live message published before that instant reach the shard before the
// replay does. The session then drops the held ones the replay covers (by
// id, up to the read's watermark) and delivers the rest after it.
void Hub::proceed_history(const ChannelTable::Request& request) {
  auto history = request->history;
  engine_.read_history(
      request->channels, history->since, history->limit,
      [this, request, history](std::optional<RespValue> reply) {
        std::optional<HistoryReplay> replay;
        if (reply)
          replay =
              decide_history_replay(*reply, history->since, history->limit, history->ttl_seconds);
        engine_.barrier([this, request, history, replay = std::move(replay)]() mutable {
          net::post(shards_[request->shard]->context(),
                    [done = std::move(history->done), replay = std::move(replay)]() mutable {
                      done(std::move(replay));
                    });
        });
      });
}

void Hub::publish(std::string channel, std::string payload, int expire_seconds,
                  PublishRefused refused) {
  net::post(control_, [this, channel = std::move(channel), payload = std::move(payload),
                       expire_seconds, refused = std::move(refused)]() mutable {
    if (stopped_) return;
    // The gateway marks history messages itself (the script adds the id), so
    // what a client sends is always the message, never a forged marker.
    if (const HistoryRule* rule = history_for_channel(history_rules_, prefix_, channel))
      return engine_.publish_history(channel, payload, expire_seconds, *rule, std::move(refused));
    engine_.publish(channel, payload, expire_seconds, std::move(refused));
  });
}

void Hub::command(std::vector<std::string> argv, std::size_t max_reply_bytes, CommandDone done) {
  net::post(control_,
            [this, argv = std::move(argv), max_reply_bytes, done = std::move(done)]() mutable {
              if (stopped_) return;
              engine_.command(std::move(argv), max_reply_bytes, std::move(done));
            });
}

void Hub::when_published(std::function<void()> done) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  if (!stopped_) engine_.when_published(std::move(done));
}

void Hub::on_message(std::string_view channel, std::string_view payload, const DeliveryHold& hold,
                     Message::clock::time_point received) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  // Encode once, and only for a channel someone wants: every shard, and
  // every session in it, shares this object.
  MessagePtr message;
  const auto* shards = table_.message(channel, [&] {
    message = make_message(channel, payload, received);
    return message->hash();
  });
  if (shards != nullptr) fan_out(*shards, message, hold);
}

// Only on a history channel is a marker read (history_for_channel): a plain
// PUBLISH there, and anything on any other channel, passes byte for byte.
MessagePtr Hub::make_message(std::string_view channel, std::string_view payload,
                             Message::clock::time_point received) const {
  if (history_rules_.empty()) return Message::make(channel, payload, received);
  if (!history_for_channel(history_rules_, prefix_, channel))
    return Message::make(channel, payload, received);
  if (auto marked = parse_marked(payload))
    return Message::make_positioned(channel, marked->message, marked->envelope, marked->id,
                                    received);
  return Message::make_positioned(channel, payload, unpositioned_envelope(payload), std::nullopt,
                                  received);
}

void Hub::interrupt_history(const std::vector<std::string>& channels) {
  if (history_rules_.empty()) return;
  for (Shard* shard : shards_)
    net::post(shard->context(), [shard, channels] { shard->interrupt_history(channels); });
}

// Each post holds `hold` until its shard has delivered: the subscriber's
// bound covers the messages waiting in the shards' queues as well.
void Hub::fan_out(const std::vector<ChannelTable::ShardIndex>& shards, const MessagePtr& message,
                  const DeliveryHold& hold) {
  for (auto shard : shards) {
    Shard* target = shards_[shard];
    net::post(target->context(), [target, message, hold] { target->deliver(message); });
  }
}

void Hub::on_subscribed(const std::string& channel) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  std::vector<ChannelTable::Request> ready;
  if (table_.confirmed(channel, ready)) net::post(control_, [this] { resync(); });
  for (auto& request : ready) proceed(request);
}

// Messages published while the link is down never reach the sessions; a
// session with positions resumes from the history instead (it is closed to
// reconnect with `since`).
void Hub::on_link(bool up) {
  if (up) return;
  table_.link_down();
  interrupt_history({});
}

// Why: messages published while the link was down (or dropped in a gap)
// never reached the sessions. The stored value of each channel marked is
// read again once it is confirmed, and delivered as a live message only when
// it differs from the last one the sessions got: an unchanged value is not
// sent twice. The barrier first lets every message sent before the read
// reach us. A live message since the channel was marked may be newer than
// the value read (an application that PUBLISHes before it SETs leaves such a
// window): then nothing is sent, as that might step the sessions back to an
// older value, and the channel is live anyway (ChannelTable::resynced).
void Hub::resync() {
  if (stopped_) return;
  auto marked = table_.take_resync();
  std::vector<std::string> channels;
  std::vector<std::uint64_t> seen;
  for (auto& [channel, live] : marked) {
    if (live_only_.contains(channel)) continue;
    channels.push_back(std::move(channel));
    seen.push_back(live);
  }
  if (channels.empty()) return;
  engine_.get(channels, [this, channels,
                         seen = std::move(seen)](std::vector<std::optional<std::string>> values) {
    engine_.barrier([this, channels, seen, values = std::move(values)] {
      for (std::size_t i = 0; i < values.size() && i < channels.size(); ++i) {
        if (!values[i]) continue;
        MessagePtr message = Message::make(channels[i], *values[i]);
        const auto* shards = table_.resynced(channels[i], seen[i], message->hash());
        if (shards == nullptr) continue;
        metrics_.last_messages_resent.fetch_add(1, std::memory_order_relaxed);
        fan_out(*shards, message, nullptr);
      }
    });
  });
}

// Messages on these channels were dropped between Redis and the hub (the
// subscriber's hand-off was full). Every message received before the drops
// has been through on_message; from here on it is the outage case (resync).
void Hub::on_gap(std::vector<std::string> channels) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  if (stopped_) return;
  interrupt_history(channels);
  if (table_.gap(channels)) net::post(control_, [this] { resync(); });
}

// Why drop, not cut: a browser cannot tell a truncated message from a whole
// one, and the bound exists so that one message cannot take the memory of
// every queue it is posted to.
void Hub::on_oversized(std::string_view channel, std::size_t bytes) {
  metrics_.messages_oversized.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t suppressed = 0;
  if (oversized_log_.should_log(suppressed)) {
    spdlog::warn(
        "message on {} dropped: {} bytes, over redis.max_message_bytes; {} other(s) dropped "
        "since the previous line",
        printable(channel), bytes, suppressed);
  }
}

// The channel is forgotten here and in every shard that had it, and its
// sessions are refused or closed: a session opening on it later starts from
// scratch (a new SUBSCRIBE, which Redis may now accept) instead of waiting
// forever behind a subscription that will never be confirmed.
void Hub::on_refused(const std::string& channel, std::string_view why) {
  WSRELAY_ASSERT_ON(control_.get_executor());
  const auto shards = table_.refused(channel);
  if (shards.empty()) return;
  schedule_flush();
  const std::string reason(why.starts_with("NOPERM")
                               ? close_reason::subscription_refused_noperm.text
                               : close_reason::subscription_refused.text);
  for (auto shard : shards) {
    Shard* target = shards_[shard];
    net::post(target->context(), [target, channel, reason] { target->refuse(channel, reason); });
  }
}

void Hub::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  net::post(control_, [this] { flush(); });
}

void Hub::flush() {
  flush_posted_ = false;
  if (stopped_) return;
  auto changes = table_.take_changes();
  if (!changes.unsubscribe.empty()) engine_.unsubscribe(changes.unsubscribe);
  if (!changes.subscribe.empty()) engine_.subscribe(changes.subscribe);
}

}  // namespace wsrelay
