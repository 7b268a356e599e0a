#include <wsrelay/gateway/channel_table.hpp>

#include <algorithm>

namespace wsrelay {

bool ChannelTable::shard_subscribed(ShardIndex shard, const std::vector<std::string>& channels) {
  bool changed = false;
  for (const auto& name : channels) {
    auto [it, created] = channels_.try_emplace(name);
    auto& shards = it->second.shards;
    if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.push_back(shard);
    if (!created) continue;
    // A pending UNSUBSCRIBE of this channel is cancelled, but the channel
    // still needs a fresh confirmation: SUBSCRIBE is sent again.
    to_unsubscribe_.erase(name);
    to_subscribe_.insert(name);
    changed = true;
  }
  return changed;
}

bool ChannelTable::shard_unsubscribed(ShardIndex shard, const std::vector<std::string>& channels,
                                      std::vector<Request>& ready) {
  bool changed = false;
  for (const auto& name : channels) {
    auto it = channels_.find(name);
    if (it == channels_.end()) continue;
    auto& shards = it->second.shards;
    shards.erase(std::remove(shards.begin(), shards.end(), shard), shards.end());
    if (!shards.empty()) continue;
    // Requests still waiting on this channel belong to sessions that are
    // gone or going; they no longer need it confirmed.
    auto waiting = std::move(it->second.waiting);
    channels_.erase(it);
    to_subscribe_.erase(name);
    to_unsubscribe_.insert(name);
    changed = true;
    for (auto& request : waiting)
      if (--request->unconfirmed == 0) ready.push_back(request);
  }
  return changed;
}

bool ChannelTable::open(const Request& request) {
  for (const auto& name : request->channels) {
    auto it = channels_.find(name);
    if (it == channels_.end() || it->second.confirmed) continue;
    auto& waiting = it->second.waiting;
    // While the link is down, sessions come and go on a channel others keep
    // alive; drop the requests of the gone ones now and then, so the list
    // is bounded by the live sessions, not by the churn.
    if (waiting.size() >= 64 && (waiting.size() & (waiting.size() - 1)) == 0)
      std::erase_if(waiting, [](const Request& r) { return r->owner.expired(); });
    ++request->unconfirmed;
    waiting.push_back(request);
  }
  return request->unconfirmed == 0;
}

bool ChannelTable::mark_resync(const std::string& name, Channel& channel) {
  const bool first = to_resync_.empty();
  to_resync_.emplace_back(name, channel.live);
  return first;
}

bool ChannelTable::confirmed(const std::string& name, std::vector<Request>& ready) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return false;
  Channel& channel = it->second;
  channel.confirmed = true;
  const bool resync_due = std::exchange(channel.resync, false) && mark_resync(name, channel);
  auto waiting = std::move(channel.waiting);
  channel.waiting.clear();
  for (auto& request : waiting)
    if (--request->unconfirmed == 0) ready.push_back(request);
  return resync_due;
}

void ChannelTable::link_down() {
  // Until the backend confirms each channel again, a message published now
  // may not reach us, so a session opening now must wait.
  for (auto& [name, channel] : channels_) {
    channel.resync = channel.resync || channel.confirmed;
    channel.confirmed = false;
  }
}

void ChannelTable::link_down(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    auto it = channels_.find(name);
    if (it == channels_.end()) continue;
    it->second.resync = it->second.resync || it->second.confirmed;
    it->second.confirmed = false;
  }
}

std::vector<ChannelTable::ShardIndex> ChannelTable::refused(const std::string& name) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return {};
  auto shards = std::move(it->second.shards);
  channels_.erase(it);
  to_subscribe_.erase(name);
  to_unsubscribe_.insert(name);
  return shards;
}

bool ChannelTable::gap(const std::vector<std::string>& names) {
  bool due = false;
  // A channel not confirmed now: the link dropped meanwhile, and its
  // confirmation resyncs it.
  if (names.empty()) {
    for (auto& [name, channel] : channels_)
      if (channel.confirmed) due = mark_resync(name, channel) || due;
    return due;
  }
  for (const auto& name : names) {
    auto it = channels_.find(name);
    if (it != channels_.end() && it->second.confirmed)
      due = mark_resync(it->first, it->second) || due;
  }
  return due;
}

void ChannelTable::replayed(const Request& request,
                            const std::vector<std::optional<std::uint64_t>>& hashes) {
  for (std::size_t i = 0; i < hashes.size() && i < request->channels.size(); ++i) {
    auto it = channels_.find(request->channels[i]);
    if (hashes[i] && it != channels_.end() && !it->second.last) it->second.last = hashes[i];
  }
}

ChannelTable::Changes ChannelTable::take_changes() {
  Changes changes;
  changes.unsubscribe.assign(to_unsubscribe_.begin(), to_unsubscribe_.end());
  changes.subscribe.assign(to_subscribe_.begin(), to_subscribe_.end());
  to_unsubscribe_.clear();
  to_subscribe_.clear();
  return changes;
}

std::vector<std::pair<std::string, std::uint64_t>> ChannelTable::take_resync() {
  return std::exchange(to_resync_, {});
}

const std::vector<ChannelTable::ShardIndex>* ChannelTable::resynced(const std::string& name,
                                                                    std::uint64_t live_then,
                                                                    std::uint64_t hash) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return nullptr;
  Channel& channel = it->second;
  // A live message since the mark may be newer than the value read.
  if (!channel.confirmed || channel.live != live_then) return nullptr;
  if (channel.last == hash) return nullptr;  // unchanged: not sent twice
  channel.last = hash;
  return &channel.shards;
}

bool ChannelTable::is_confirmed(std::string_view name) const {
  auto it = channels_.find(name);
  return it != channels_.end() && it->second.confirmed;
}

}  // namespace wsrelay
