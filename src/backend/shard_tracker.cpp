#include <wsrelay/backend/shard_tracker.hpp>

#include <algorithm>
#include <iterator>

#include <wsrelay/wire/cluster.hpp>

namespace wsrelay {
namespace {

// What a node answers for a slot it does not serve now (or not yet):
// the channel belongs elsewhere, or later; never a refusal.
bool is_cluster_error(std::string_view error) {
  for (std::string_view prefix : {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"})
    if (error.starts_with(prefix)) return true;
  return false;
}

}  // namespace

void ShardTracker::send_subscribe(const std::string& channel, bool resync, Events& events) {
  events.send.push_back({"SSUBSCRIBE", channel});
  pending_.push_back(Pending{true, channel, resync});
  ++subscribing_[channel];
  if (resync) ++resync_;
}

void ShardTracker::connected(Events& events) {
  connected_ = true;
  pending_.clear();
  subscribing_.clear();
  resync_ = 0;
  for (const auto& channel : channels_) send_subscribe(channel, true, events);
  // The PINGs of pending barriers were lost with the old connection.
  for (std::size_t i = 0; i < barriers_.size(); ++i) events.send.push_back({"PING"});
}

void ShardTracker::disconnected() {
  connected_ = false;
  pending_.clear();
  subscribing_.clear();
  resync_ = 0;
  subscribed_count_ = 0;
}

void ShardTracker::subscribe(const std::string& channel, bool resync, Events& events) {
  channels_.insert(channel);
  if (connected_) send_subscribe(channel, resync, events);
}

void ShardTracker::unsubscribe(const std::string& channel, Events& events) {
  channels_.erase(channel);
  if (!connected_) return;
  events.send.push_back({"SUNSUBSCRIBE", channel});
  pending_.push_back(Pending{false, channel, false});
}

void ShardTracker::forget(const std::string& channel) {
  channels_.erase(channel);
}

void ShardTracker::barrier(std::function<void()> done, Events& events) {
  barriers_.push_back(std::move(done));
  if (connected_) events.send.push_back({"PING"});
}

std::vector<std::function<void()>> ShardTracker::take_barriers() {
  std::vector<std::function<void()>> out(std::make_move_iterator(barriers_.begin()),
                                         std::make_move_iterator(barriers_.end()));
  barriers_.clear();
  return out;
}

bool ShardTracker::match_unsubscribe(std::string_view channel) {
  auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& pending) {
    return !pending.subscribe && pending.channel == channel;
  });
  if (it == pending_.end()) return false;
  pending_.erase(it);
  return true;
}

void ShardTracker::matched_subscribe(const Pending& pending, Events& events, bool acked,
                                     std::string_view error) {
  if (pending.resync && resync_ > 0) --resync_;
  auto it = subscribing_.find(pending.channel);
  if (it != subscribing_.end() && --it->second == 0) subscribing_.erase(it);
  const bool latest = !subscribing_.contains(pending.channel);
  if (!channels_.contains(pending.channel)) return;
  if (acked) {
    if (latest) events.confirmed.push_back(pending.channel);
  } else if (is_cluster_error(error)) {
    lose(pending.channel, std::string(error), events);
  } else if (latest) {
    events.refused.emplace_back(pending.channel, std::string(error));
  }
}

void ShardTracker::lose(const std::string& channel, std::string why, Events& events) {
  channels_.erase(channel);
  events.lost.emplace_back(channel, std::move(why));
}

void ShardTracker::on_reply(const Push& push, Events& events) {
  switch (push.kind) {
    case Push::Kind::subscribed: {
      subscribed_count_ = push.count;
      auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& pending) {
        return pending.subscribe && pending.channel == push.channel;
      });
      if (it == pending_.end()) break;
      const Pending pending = std::move(*it);
      pending_.erase(it);
      matched_subscribe(pending, events, true, {});
      break;
    }
    case Push::Kind::unsubscribed:
      subscribed_count_ = push.count;
      // The ack of our SUNSUBSCRIBE, or the node's own when the slot left
      // (see the header: the two are taken alike).
      if (match_unsubscribe(push.channel)) break;
      if (channels_.contains(push.channel)) lose(push.channel, {}, events);
      break;
    case Push::Kind::pong:
      if (barriers_.empty()) break;
      events.barriers_done.push_back(std::move(barriers_.front()));
      barriers_.pop_front();
      break;
    case Push::Kind::error: {
      // The answer of a SUNSUBSCRIBE already matched by the node's push
      // (see the header): a cluster error with nothing pending, or a
      // redirect for another slot than the oldest command's.
      const bool cluster = is_cluster_error(push.payload);
      const auto redirect = read_redirect(push.payload);
      if (cluster &&
          (pending_.empty() || (redirect && redirect->slot != key_slot(pending_.front().channel))))
        break;
      if (pending_.empty()) {
        events.unexpected_error = push.payload;
        break;
      }
      const Pending pending = std::move(pending_.front());
      pending_.pop_front();
      if (pending.subscribe) matched_subscribe(pending, events, false, push.payload);
      break;
    }
    case Push::Kind::message:
    case Push::Kind::oversized:
    case Push::Kind::other:
      break;
  }
}

}  // namespace wsrelay
