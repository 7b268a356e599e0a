#include <wsrelay/gateway/delivery_filter.hpp>

#include <algorithm>

namespace wsrelay {

void DeliveryFilter::published(std::uint64_t hash, clock::time_point now) {
  if (own_.size() >= max_own) own_.erase(own_.begin());
  own_.push_back(Own{hash, now + own_lifetime});
}

bool DeliveryFilter::pass_live(const Message& message, clock::time_point now) {
  if (!own_.empty()) {
    auto it = std::find_if(own_.begin(), own_.end(), [&](const Own& own) {
      return !own.came_back && own.hash == message.hash() && own.until > now;
    });
    if (it != own_.end()) {
      if (replay_done_) {
        own_.erase(it);
      } else {
        it->came_back = true;
      }
      return false;
    }
  }
  if (!guards_.empty()) {
    auto guard = std::find_if(guards_.begin(), guards_.end(),
                              [&](const Guard& g) { return g.channel == message.channel(); });
    if (guard != guards_.end()) {
      // Only the next message on the channel can be the replayed value's own
      // live copy; anything else ends the guard.
      const bool copy = guard->hash == message.hash() && now < guard->until;
      guards_.erase(guard);
      if (copy) return false;
    }
  }
  return true;
}

bool DeliveryFilter::pass_replayed(const Message& stored, const std::vector<MessagePtr>& held,
                                   clock::time_point now) {
  const bool live_copy = std::any_of(held.begin(), held.end(), [&](const MessagePtr& m) {
    return m->channel() == stored.channel() && m->payload() == stored.payload();
  });
  if (live_copy) return false;
  const bool own = std::any_of(own_.begin(), own_.end(), [&](const Own& o) {
    return o.hash == stored.hash() && o.until > now;
  });
  if (own) return false;
  guards_.push_back(Guard{stored.channel(), stored.hash(), now + replay_guard_lifetime});
  return true;
}

bool DeliveryFilter::pass_history(std::uint64_t hash, clock::time_point now) const {
  return std::none_of(own_.begin(), own_.end(),
                      [&](const Own& own) { return own.hash == hash && own.until > now; });
}

void DeliveryFilter::replay_done() {
  replay_done_ = true;
  std::erase_if(own_, [](const Own& own) { return own.came_back; });
}

void DeliveryFilter::expire(clock::time_point now) {
  if (!own_.empty()) std::erase_if(own_, [&](const Own& own) { return own.until <= now; });
  if (!guards_.empty()) std::erase_if(guards_, [&](const Guard& g) { return g.until <= now; });
  if (own_.empty() && own_.capacity() > 0) std::vector<Own>().swap(own_);
  if (guards_.empty() && guards_.capacity() > 0) std::vector<Guard>().swap(guards_);
}

}  // namespace wsrelay
