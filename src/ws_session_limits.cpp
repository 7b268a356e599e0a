// WsSession's limits: the outbound queue (hard and soft byte limits, and the
// slow-consumer policy of the facility) and the publish rate.
//
// Why two byte limits (as Redis's client-output-buffer-limit): the hard
// limit bounds memory at once, whatever happens; the soft limit catches a
// client that keeps a large backlog for long, the sign of a reader that will
// never catch up, without evicting one that lags for a moment (a burst, a
// stalled tab, a mobile radio waking up).
//
// Why drop policies: for a price feed, a scoreboard or a position stream,
// old values are worthless once a newer one exists. Closing such a client
// makes it reconnect into the same backlog; dropping what is stale keeps it
// current. What is delivered stays in order: drops only remove entries,
// never reorder them, and never touch a frame partly written, a control
// frame or the close frame.
#include <wsrelay/ws_session.hpp>

#include <algorithm>

#include <spdlog/spdlog.h>

#include <wsrelay/config.hpp>
#include <wsrelay/metrics.hpp>
#include <wsrelay/shard.hpp>

namespace wsrelay {

SlowConsumerPolicy WsSession::policy() const {
  return policy_for(shard_.config().slow_consumer_rules, target_.facility);
}

bool WsSession::admit(std::size_t bytes, const Message* incoming, bool incoming_is_newest) {
  const Config& config = shard_.config();
  const std::size_t waiting = queued_bytes_ + pending_bytes_;
  // One frame is always accepted into an empty queue: a message bigger than
  // the limit is the sender's choice, not this reader's slowness.
  if (waiting == 0 || waiting + bytes <= config.max_queue_bytes) return true;
  const SlowConsumerPolicy policy = this->policy();
  if (policy != SlowConsumerPolicy::close) {
    make_room(waiting + bytes - config.max_queue_bytes, policy, incoming, incoming_is_newest);
    // The newest data message is always kept, even when what is left (a
    // frame partly written, control frames) leaves it no room: the queue
    // then holds at most one message beyond the limit, and the next one
    // drops it. Control frames get no such grace.
    if (incoming || queued_bytes_ + pending_bytes_ + bytes <= config.max_queue_bytes) return true;
  }
  close_slow_consumer("max_queue_bytes", config.max_queue_bytes);
  return false;
}

std::size_t WsSession::make_room(std::size_t need, SlowConsumerPolicy policy,
                                 const Message* incoming, bool incoming_is_newest) {
  // queue_[first...] may go; the entry at queue_head_ stays when it is partly
  // written (the stream must stay well-formed). Own frames (control frames,
  // heartbeats, the 101 answer) have no `message` and are never dropped.
  const std::size_t first = queue_head_ + (head_offset_ > 0 ? 1 : 0);
  std::size_t freed = 0;
  std::size_t dropped = 0;
  auto drop_queued = [&](Outbound& item) {
    const std::size_t size = item.bytes().size();
    freed += size;
    queued_bytes_ -= size;
    item = Outbound{};  // empty: removed below
    ++dropped;
  };
  auto drop_pending = [&](MessagePtr& message) {
    const std::size_t size = message->frame().size();
    freed += size;
    pending_bytes_ -= size;
    message.reset();
    ++dropped;
  };

  if (policy == SlowConsumerPolicy::keep_latest) {
    // Newest to oldest: the first entry seen on a channel is its latest
    // value; every older one on that channel is superseded. Order of age:
    // queue_, then pending_ (live messages held during the replay), then the
    // incoming message, unless it is a replayed value (older than pending_).
    std::vector<std::string_view> latest;  // channels whose latest value is kept
    auto superseded = [&](const Message& message) {
      if (std::find(latest.begin(), latest.end(), message.channel()) != latest.end()) return true;
      latest.push_back(message.channel());
      return false;
    };
    if (incoming && incoming_is_newest) latest.push_back(incoming->channel());
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it)
      if (superseded(**it)) drop_pending(*it);
    if (incoming && !incoming_is_newest) superseded(*incoming);
    for (std::size_t i = queue_.size(); i-- > first;)
      if (queue_[i].message && superseded(*queue_[i].message)) drop_queued(queue_[i]);
  }
  for (std::size_t i = first; i < queue_.size() && freed < need; ++i)
    if (queue_[i].message) drop_queued(queue_[i]);
  for (MessagePtr& message : pending_) {
    if (freed >= need) break;
    if (message) drop_pending(message);
  }

  if (dropped == 0) return 0;
  queue_.erase(std::remove_if(queue_.begin() + static_cast<std::ptrdiff_t>(first), queue_.end(),
                              [](const Outbound& item) { return item.bytes().empty(); }),
               queue_.end());
  std::erase(pending_, nullptr);
  shard_.count_dropped(id_, dropped);
  spdlog::debug("session {}: {} dropped {} queued messages ({} bytes)", id_, to_string(policy),
                dropped, freed);
  return freed;
}

void WsSession::close_slow_consumer(std::string_view which_limit, std::size_t limit) {
  shard_.metrics().closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("session {}: closed with 1013, slow consumer ({} bytes waiting, {} {})", id_,
               queued_bytes_ + pending_bytes_, which_limit, limit);
  start_close(close_code::try_again_later, "slow consumer", true);
}

void WsSession::note_queue_growth() {
  if (over_soft_since_) return;
  const std::size_t soft = shard_.config().soft_queue_bytes;
  // The real time, not the shard's tick time: that one can be 250 ms old,
  // and the soft limit must never close a client before its time.
  if (soft > 0 && queued_bytes_ + pending_bytes_ > soft) over_soft_since_ = clock::now();
}

void WsSession::check_soft_limit(clock::time_point now) {
  const Config& config = shard_.config();
  const std::size_t waiting = queued_bytes_ + pending_bytes_;
  if (config.soft_queue_bytes == 0 || waiting <= config.soft_queue_bytes) {
    over_soft_since_.reset();
    return;
  }
  if (!over_soft_since_) {
    over_soft_since_ = now;  // the limit was lowered by a reload
    return;
  }
  if (now - *over_soft_since_ < std::chrono::seconds(config.soft_queue_seconds)) return;
  // A drop policy keeps such a client open: its backlog is bounded by the
  // hard limit, and what it reads is as current as it can be.
  if (policy() != SlowConsumerPolicy::close) return;
  close_slow_consumer("soft_queue_bytes", config.soft_queue_bytes);
}

bool WsSession::within_publish_rate() {
  const Config& config = shard_.config();
  if (config.publish_rate == 0) return true;
  if (publish_bucket_.take(clock::now(), config.publish_rate, config.publish_burst)) return true;
  shard_.metrics().closed_rate_limited.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session {}: closed with 1008, over publish_rate ({}/s, burst {})", id_,
               config.publish_rate, config.publish_burst);
  start_close(close_code::policy, "publish rate limit exceeded");
  return false;
}

void WsSession::settings_changed() {
  if (parser_) parser_->set_max_message_bytes(shard_.config().max_message_bytes);
}

}  // namespace wsrelay
