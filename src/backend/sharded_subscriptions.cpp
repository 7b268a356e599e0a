#include <wsrelay/backend/sharded_subscriptions.hpp>

#include <algorithm>
#include <memory>

namespace wsrelay {

template <typename F>
void ShardedSubscriptions::with_shard(const HostPort& address, ShardTracker& shard, Events& events,
                                      F f) {
  ShardTracker::Events got;
  f(shard, got);
  for (auto& command : got.send) events.send.emplace_back(address, std::move(command));
  for (auto& channel : got.confirmed) events.confirmed.push_back(std::move(channel));
  for (auto& refusal : got.refused) events.refused.push_back(std::move(refusal));
  for (auto& done : got.barriers_done) events.barriers_done.push_back(std::move(done));
  if (!got.unexpected_error.empty()) events.unexpected_error = std::move(got.unexpected_error);
  for (auto& [channel, why] : got.lost) {
    auto it = wanted_.find(channel);
    // Lost where it no longer lives (it moved on already): nothing to do.
    if (it == wanted_.end() || it->second.shard != address) continue;
    it->second.shard.reset();
    ++unplaced_;
    events.unconfirmed.push_back(channel);
    // -MOVED names the owner: go there now; otherwise wait for a new map.
    const auto redirect = read_redirect(why);
    if (redirect && redirect->kind == ClusterRedirect::Kind::moved &&
        shards_.contains(redirect->address)) {
      assign(it, redirect->address, true, events);
    } else {
      events.refresh = true;
    }
  }
}

void ShardedSubscriptions::assign(Wanted::iterator it, const HostPort& address, bool resync,
                                  Events& events) {
  auto shard = shards_.find(address);
  if (shard == shards_.end()) return;
  it->second.shard = address;
  --unplaced_;
  with_shard(address, shard->second, events, [&](ShardTracker& tracker, ShardTracker::Events& got) {
    tracker.subscribe(it->first, resync, got);
  });
}

void ShardedSubscriptions::place(Wanted::iterator it, bool resync, Events& events) {
  if (it->second.shard || !map_) return;
  if (const HostPort* owner = map_->owner_of(it->second.slot)) assign(it, *owner, resync, events);
}

// Moved away or its shard removed: the old node is not told (it drops the
// channel by itself when the slot leaves it, or is gone).
void ShardedSubscriptions::unplace(Wanted::iterator it, Events& events) {
  if (!it->second.shard) return;
  auto shard = shards_.find(*it->second.shard);
  if (shard != shards_.end()) shard->second.forget(it->first);
  it->second.shard.reset();
  ++unplaced_;
  events.unconfirmed.push_back(it->first);
}

void ShardedSubscriptions::finish(Events& events, bool was_settled) const {
  events.settled = !was_settled && settled();
}

ShardedSubscriptions::Events ShardedSubscriptions::set_map(const SlotMap& map) {
  Events events;
  const bool was_settled = settled();
  map_ = map;
  for (const auto& address : map.masters) {
    if (shards_.contains(address)) continue;
    shards_.emplace(address, ShardTracker{});
    events.open.push_back(address);
  }
  for (auto shard = shards_.begin(); shard != shards_.end();) {
    if (std::find(map.masters.begin(), map.masters.end(), shard->first) != map.masters.end()) {
      ++shard;
      continue;
    }
    for (auto it = wanted_.begin(); it != wanted_.end(); ++it)
      if (it->second.shard == shard->first) unplace(it, events);
    for (auto& done : shard->second.take_barriers())
      events.barriers_done.push_back(std::move(done));
    events.close.push_back(shard->first);
    shard = shards_.erase(shard);
  }
  // Only channels without a shard are placed: a channel on a master of
  // this map stays there until that node says the slot left (its own
  // sunsubscribe, or -MOVED), which it does after every message it sent on
  // it. A map is one node's view and may be behind; the slot's node is not.
  for (auto it = wanted_.begin(); it != wanted_.end(); ++it) place(it, true, events);
  finish(events, was_settled);
  return events;
}

ShardedSubscriptions::Events ShardedSubscriptions::link_state(const HostPort& address, bool up) {
  Events events;
  const bool was_settled = settled();
  auto shard = shards_.find(address);
  if (shard == shards_.end()) return events;
  if (up) {
    with_shard(address, shard->second, events,
               [](ShardTracker& tracker, ShardTracker::Events& got) { tracker.connected(got); });
  } else {
    shard->second.disconnected();
    for (const auto& [channel, want] : wanted_)
      if (want.shard == address) events.unconfirmed.push_back(channel);
    // The master may be failing over: the map will say where its slots go.
    events.refresh = true;
  }
  finish(events, was_settled);
  return events;
}

ShardedSubscriptions::Events ShardedSubscriptions::subscribe(
    const std::vector<std::string>& channels) {
  Events events;
  const bool was_settled = settled();
  for (const auto& channel : channels) {
    auto [it, added] = wanted_.try_emplace(channel, Want{key_slot(channel), std::nullopt});
    if (!added) continue;
    ++unplaced_;
    place(it, false, events);
  }
  finish(events, was_settled);
  return events;
}

ShardedSubscriptions::Events ShardedSubscriptions::unsubscribe(
    const std::vector<std::string>& channels) {
  Events events;
  const bool was_settled = settled();
  for (const auto& channel : channels) {
    auto it = wanted_.find(channel);
    if (it == wanted_.end()) continue;
    if (!it->second.shard) {
      --unplaced_;
    } else if (auto shard = shards_.find(*it->second.shard); shard != shards_.end()) {
      with_shard(shard->first, shard->second, events,
                 [&](ShardTracker& tracker, ShardTracker::Events& got) {
                   tracker.unsubscribe(channel, got);
                 });
    }
    wanted_.erase(it);
  }
  finish(events, was_settled);
  return events;
}

// A shard that is not connected has nothing in flight (what it read was
// handed over before it was reported down), so it is not asked.
ShardedSubscriptions::Events ShardedSubscriptions::barrier(std::function<void()> done) {
  Events events;
  const auto connected =
      static_cast<std::size_t>(std::count_if(shards_.begin(), shards_.end(), [](const auto& shard) {
        return shard.second.is_connected();
      }));
  if (connected == 0) {
    events.barriers_done.push_back(std::move(done));
    return events;
  }
  auto left = std::make_shared<std::size_t>(connected);
  auto shared = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& [address, shard] : shards_) {
    if (!shard.is_connected()) continue;
    with_shard(address, shard, events, [&](ShardTracker& tracker, ShardTracker::Events& got) {
      tracker.barrier(
          [left, shared] {
            if (--*left == 0 && *shared) (*shared)();
          },
          got);
    });
  }
  return events;
}

ShardedSubscriptions::Events ShardedSubscriptions::on_reply(const HostPort& address,
                                                            const Push& push) {
  Events events;
  const bool was_settled = settled();
  auto shard = shards_.find(address);
  if (shard == shards_.end()) return events;
  with_shard(address, shard->second, events, [&](ShardTracker& tracker, ShardTracker::Events& got) {
    tracker.on_reply(push, got);
  });
  finish(events, was_settled);
  return events;
}

bool ShardedSubscriptions::settled() const {
  if (!map_ || unplaced_ > 0 || shards_.empty()) return false;
  return std::all_of(shards_.begin(), shards_.end(),
                     [](const auto& shard) { return shard.second.settled(); });
}

bool ShardedSubscriptions::up() const {
  if (!map_ || shards_.empty()) return false;
  return std::all_of(shards_.begin(), shards_.end(),
                     [](const auto& shard) { return shard.second.is_connected(); });
}

long long ShardedSubscriptions::subscribed_count() const {
  long long count = 0;
  for (const auto& [address, shard] : shards_) count += shard.subscribed_count();
  return count;
}

const HostPort* ShardedSubscriptions::shard_of(std::string_view channel) const {
  auto it = wanted_.find(channel);
  return it == wanted_.end() || !it->second.shard ? nullptr : &*it->second.shard;
}

}  // namespace wsrelay
