#include <wsrelay/hub.hpp>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include <wsrelay/engine.hpp>
#include <wsrelay/metrics.hpp>
#include <wsrelay/shard.hpp>

namespace wsrelay {

Hub::Hub(net::io_context& control, Engine& engine, Metrics& metrics)
    : control_(control), engine_(engine), metrics_(metrics) {}

void Hub::start() {
  EngineHandlers handlers;
  handlers.on_message = [this](std::string_view channel, std::string_view payload,
                               const DeliveryHold& hold) { on_message(channel, payload, hold); };
  handlers.on_subscribed = [this](const std::string& channel) { on_subscribed(channel); };
  handlers.on_link = [this](bool up) { on_link(up); };
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
  stopped_ = true;
  ready_.store(false);
  engine_.stop();
}

void Hub::shard_subscribed(std::size_t shard, std::vector<std::string> channels) {
  net::post(control_, [this, shard, channels = std::move(channels)] {
    for (const auto& channel : channels) {
      auto [it, created] = channels_.try_emplace(channel);
      auto& shards = it->second.shards;
      auto index = static_cast<std::uint16_t>(shard);
      if (std::find(shards.begin(), shards.end(), index) == shards.end()) shards.push_back(index);
      if (created) {
        // A pending UNSUBSCRIBE of this channel is cancelled, but the channel
        // still needs a fresh confirmation: SUBSCRIBE is sent again.
        to_unsubscribe_.erase(channel);
        to_subscribe_.insert(channel);
        schedule_flush();
      }
    }
  });
}

void Hub::shard_unsubscribed(std::size_t shard, std::vector<std::string> channels) {
  net::post(control_, [this, shard, channels = std::move(channels)] {
    for (const auto& channel : channels) {
      auto it = channels_.find(channel);
      if (it == channels_.end()) continue;
      auto& shards = it->second.shards;
      shards.erase(std::remove(shards.begin(), shards.end(), static_cast<std::uint16_t>(shard)),
                   shards.end());
      if (!shards.empty()) continue;
      // Requests still waiting on this channel belong to sessions that are
      // gone or going; they no longer need it confirmed.
      auto waiting = std::move(it->second.waiting);
      channels_.erase(it);
      to_subscribe_.erase(channel);
      to_unsubscribe_.insert(channel);
      schedule_flush();
      for (auto& request : waiting)
        if (--request->unconfirmed == 0) proceed(request);
    }
  });
}

void Hub::open(std::size_t shard, std::vector<std::string> channels, std::weak_ptr<void> owner,
               std::function<void()> confirmed, ReplayCallback done) {
  auto request = std::make_shared<OpenRequest>(OpenRequest{
      shard, std::move(channels), 0, std::move(owner), std::move(confirmed), std::move(done)});
  net::post(control_, [this, request] {
    for (const auto& channel : request->channels) {
      auto it = channels_.find(channel);
      if (it == channels_.end() || it->second.confirmed) continue;
      auto& waiting = it->second.waiting;
      // While the link is down, sessions come and go on a channel others
      // keep alive; drop the requests of the gone ones now and then, so the
      // list is bounded by the live sessions, not by the churn.
      if (waiting.size() >= 64 && (waiting.size() & (waiting.size() - 1)) == 0)
        std::erase_if(waiting, [](const auto& r) { return r->owner.expired(); });
      ++request->unconfirmed;
      waiting.push_back(request);
    }
    if (request->unconfirmed == 0) proceed(request);
  });
}

void Hub::proceed(const std::shared_ptr<OpenRequest>& request) {
  if (stopped_ || request->owner.expired()) return;
  // Every channel is confirmed and has this shard in its list (the shard's
  // shard_subscribed was posted before its open): whatever Redis sends from
  // now on reaches the shard.
  net::post(shards_[request->shard]->context(), std::move(request->confirmed));
  if (request->channels.empty()) {
    net::post(shards_[request->shard]->context(), [done = std::move(request->done)] { done({}); });
    return;
  }
  engine_.get(request->channels, [this, request](std::vector<std::optional<std::string>> values) {
    // The stored values were read on the command connection; messages the
    // subscriber received before that read may still be in flight to us. The
    // barrier makes sure they reached the shards before the replay does.
    engine_.barrier([this, request, values = std::move(values)]() mutable {
      for (std::size_t i = 0; i < values.size() && i < request->channels.size(); ++i) {
        auto it = channels_.find(request->channels[i]);
        if (values[i] && it != channels_.end() && !it->second.last)
          it->second.last = Message::hash_of(request->channels[i], *values[i]);
      }
      net::post(shards_[request->shard]->context(),
                [done = std::move(request->done), values = std::move(values)]() mutable {
                  done(std::move(values));
                });
    });
  });
}

void Hub::publish(std::string channel, std::string payload, int expire_seconds,
                  PublishRefused refused) {
  net::post(control_, [this, channel = std::move(channel), payload = std::move(payload),
                       expire_seconds, refused = std::move(refused)]() mutable {
    if (stopped_) return;
    engine_.publish(channel, payload, expire_seconds, std::move(refused));
  });
}

void Hub::when_published(std::function<void()> done) {
  if (!stopped_) engine_.when_published(std::move(done));
}

void Hub::on_message(std::string_view channel, std::string_view payload, const DeliveryHold& hold) {
  auto it = channels_.find(channel);
  // A message on a channel whose latest SUBSCRIBE is not confirmed yet was
  // sent under an earlier subscription (in flight across an UNSUBSCRIBE and
  // a new SUBSCRIBE): messages between the two were lost, so this one may be
  // older than the stored value the waiting sessions are about to replay.
  // Nobody else can be waiting for it: a channel only becomes unconfirmed
  // when it is new or when the link dropped.
  if (it == channels_.end() || !it->second.confirmed || it->second.shards.empty()) return;
  // Encode once: every shard, and every session in it, shares this object.
  MessagePtr message = Message::make(channel, payload);
  it->second.last = message->hash();
  ++it->second.live;
  fan_out(it->second, message, hold);
}

// Each post holds `hold` until its shard has delivered: the subscriber's
// bound covers the messages waiting in the shards' queues as well.
void Hub::fan_out(const ChannelState& state, const MessagePtr& message, const DeliveryHold& hold) {
  for (auto shard : state.shards) {
    Shard* target = shards_[shard];
    net::post(target->context(), [target, message, hold] { target->deliver(message); });
  }
}

void Hub::on_subscribed(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  it->second.confirmed = true;
  if (std::exchange(it->second.resync, false)) {
    if (to_resync_.empty()) net::post(control_, [this] { resync(); });
    to_resync_.emplace_back(channel, it->second.live);
  }
  auto waiting = std::move(it->second.waiting);
  it->second.waiting.clear();
  for (auto& request : waiting)
    if (--request->unconfirmed == 0) proceed(request);
}

void Hub::on_link(bool up) {
  if (up) return;
  // Until the backend confirms each channel again, a message published now
  // may not reach us, so a session opening now must wait before its replay.
  for (auto& [name, state] : channels_) {
    state.resync = state.resync || state.confirmed;
    state.confirmed = false;
  }
}

// Why: messages published while the link was down never reached the
// sessions. The stored value of each channel that was live before the drop
// is read again once its SUBSCRIBE is confirmed, and delivered as a live
// message only when it differs from the last one the sessions got: an
// unchanged value is not sent twice. The barrier first lets every message
// sent before the read reach us. A live message since the channel was
// marked may be newer than the value read (an application that PUBLISHes
// before it SETs leaves such a window): then nothing is sent, as that
// might step the sessions back to an older value, and the channel is live
// anyway. Each request keeps its own count, so a later gap or outage
// cannot make an earlier resync forget a live message it must respect.
void Hub::resync() {
  if (stopped_ || to_resync_.empty()) return;
  std::vector<std::string> channels;
  std::vector<std::uint64_t> seen;
  for (auto& [channel, live] : std::exchange(to_resync_, {})) {
    channels.push_back(std::move(channel));
    seen.push_back(live);
  }
  engine_.get(channels, [this, channels,
                         seen = std::move(seen)](std::vector<std::optional<std::string>> values) {
    engine_.barrier([this, channels, seen, values = std::move(values)] {
      for (std::size_t i = 0; i < values.size() && i < channels.size(); ++i) {
        auto it = channels_.find(channels[i]);
        if (!values[i] || it == channels_.end()) continue;
        ChannelState& state = it->second;
        if (!state.confirmed || state.live != seen[i]) continue;
        MessagePtr message = Message::make(channels[i], *values[i]);
        if (state.last == message->hash()) continue;
        state.last = message->hash();
        metrics_.last_messages_resent.fetch_add(1, std::memory_order_relaxed);
        fan_out(state, message, nullptr);
      }
    });
  });
}

// Messages on these channels were dropped between Redis and the hub (the
// subscriber's hand-off was full). Every message received before the drops
// has been through on_message; from here on it is the outage case (resync).
void Hub::on_gap(std::vector<std::string> channels) {
  if (stopped_) return;
  auto mark = [this](const std::string& name, ChannelState& state) {
    if (!state.confirmed) return;  // the link dropped meanwhile: on_subscribed resyncs it
    if (to_resync_.empty()) net::post(control_, [this] { resync(); });
    to_resync_.emplace_back(name, state.live);
  };
  if (channels.empty()) {
    for (auto& [name, state] : channels_) mark(name, state);
    return;
  }
  for (const auto& channel : channels) {
    auto it = channels_.find(channel);
    if (it != channels_.end()) mark(it->first, it->second);
  }
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
        channel, bytes, suppressed);
  }
}

// The channel is forgotten here and in every shard that had it, and its
// sessions are closed: a session opening on it later starts from scratch (a
// new SUBSCRIBE, which Redis may now accept) instead of waiting forever
// behind a subscription that will never be confirmed.
void Hub::on_refused(const std::string& channel, std::string_view why) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  auto shards = std::move(it->second.shards);
  channels_.erase(it);
  to_subscribe_.erase(channel);
  to_unsubscribe_.insert(channel);
  schedule_flush();
  std::string reason = "subscription refused by Redis";
  if (why.starts_with("NOPERM")) reason += " (NOPERM)";
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
  if (!to_unsubscribe_.empty()) {
    engine_.unsubscribe(std::vector<std::string>(to_unsubscribe_.begin(), to_unsubscribe_.end()));
    to_unsubscribe_.clear();
  }
  if (!to_subscribe_.empty()) {
    engine_.subscribe(std::vector<std::string>(to_subscribe_.begin(), to_subscribe_.end()));
    to_subscribe_.clear();
  }
}

}  // namespace wsrelay
