#pragma once
// ChannelTable: the hub's bookkeeping, without I/O or threads (the sans-io
// core under Hub). Fed what the shards and the engine report, as values; it
// answers with what the hub must do: which shards get a message, which
// open requests may proceed, what to SUBSCRIBE / UNSUBSCRIBE, which channels
// to resync. Every interleaving of those is tested by feeding it values.
//
// - Reference counts: one entry per shard that has a session on a channel;
//   the first shard causes a SUBSCRIBE, the last one leaving an UNSUBSCRIBE,
//   batched until the hub flushes (take_changes).
// - Confirmation: a channel is confirmed when the backend confirms its
//   latest SUBSCRIBE, and unconfirmed again when the subscriber link drops.
//   A message on an unconfirmed channel is not delivered: it was sent under
//   an earlier subscription and may be older than the value about to be
//   replayed. An open request waits until each of its channels is confirmed.
// - Last hash: the hash of the last message a channel's sessions got (live,
//   or replayed when none came live), to tell after an outage or a gap
//   whether the stored value changed.
// - Resync: a channel confirmed when the link dropped, or reported in a gap,
//   is read again; its value is re-sent only when it differs from the last
//   one delivered and no live message came since it was marked (`live`, a
//   count per channel, noted per request so a later mark cannot make an
//   earlier resync forget a live message it must respect).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {

class ChannelTable {
 public:
  using ShardIndex = std::uint16_t;
  using Values = std::vector<std::optional<std::string>>;

  // An open whose replay comes from the channels' history (docs/history.md)
  // instead of their stored last messages: `done` gets the replay, or
  // nullopt when it could not be read.
  struct HistoryOpen {
    std::optional<StreamId> since;
    std::size_t limit = 0;
    int ttl_seconds = 0;
    std::function<void(std::optional<HistoryReplay>)> done;
  };

  // A session waiting to open on `channels` (Hub::open).
  struct OpenRequest {
    ShardIndex shard = 0;
    std::vector<std::string> channels;
    std::size_t unconfirmed = 0;
    std::weak_ptr<void> owner;  // expired: the session is gone
    std::function<void()> confirmed;
    std::function<void(Values)> done;
    std::shared_ptr<HistoryOpen> history;  // set: `done` is not called, history->done is
  };
  using Request = std::shared_ptr<OpenRequest>;

  // The shard started / stopped having sessions on these channels. True
  // when the engine must be told (take_changes).
  bool shard_subscribed(ShardIndex shard, const std::vector<std::string>& channels);
  bool shard_unsubscribed(ShardIndex shard, const std::vector<std::string>& channels,
                          std::vector<Request>& ready);
  // True when every channel of the request is confirmed already.
  bool open(const Request& request);
  // The backend confirmed `channel`: requests now ready are appended to
  // `ready`. True when a resync became due (take_resync).
  bool confirmed(const std::string& channel, std::vector<Request>& ready);
  // The subscriber link dropped: nothing is confirmed until it is again.
  void link_down();
  // The same for these channels only (sharded pub/sub: one shard's link
  // dropped, or their slot moved).
  void link_down(const std::vector<std::string>& channels);
  // The backend refused `channel`: it is forgotten (a later session starts
  // with a fresh SUBSCRIBE). Returns the shards that had it.
  std::vector<ShardIndex> refused(const std::string& channel);
  // Messages on these channels (empty: on every channel) were dropped before
  // the hub. True when a resync became due.
  bool gap(const std::vector<std::string>& channels);

  // A live message: the shards it goes to (none when the channel is not
  // confirmed, or nobody wants it). Remembers it as the last delivered;
  // `hash()` (Message::hash_of) is called only then, so the hub builds the
  // message only for a channel someone wants.
  template <typename Hash>
  const std::vector<ShardIndex>* message(std::string_view channel, Hash hash) {
    auto it = channels_.find(channel);
    // Nobody else can be waiting for a message on an unconfirmed channel: a
    // channel only becomes unconfirmed when it is new or its subscription
    // is gone (the link dropped; sharded: its shard's link, or its slot left
    // the node, which says so after every message it sent on it).
    if (it == channels_.end() || !it->second.confirmed || it->second.shards.empty()) return nullptr;
    it->second.last = hash();
    ++it->second.live;
    return &it->second.shards;
  }
  // The stored values read for `request`'s replay (hashes by
  // Message::hash_of): a channel that got nothing live yet takes them as its
  // last delivered value.
  void replayed(const Request& request, const std::vector<std::optional<std::uint64_t>>& hashes);

  // SUBSCRIBE and UNSUBSCRIBE to send, batched since the last call.
  struct Changes {
    std::vector<std::string> unsubscribe;
    std::vector<std::string> subscribe;
  };
  Changes take_changes();

  // Channels to read again, each with its live count when it was marked.
  std::vector<std::pair<std::string, std::uint64_t>> take_resync();
  // A resync read `hash` for `channel`, marked at live count `live_then`:
  // the shards to re-send it to, or none when it must not be re-sent.
  const std::vector<ShardIndex>* resynced(const std::string& channel, std::uint64_t live_then,
                                          std::uint64_t hash);

  bool has(std::string_view channel) const { return channels_.contains(channel); }
  bool is_confirmed(std::string_view channel) const;

 private:
  struct Channel {
    std::vector<ShardIndex> shards;
    bool confirmed = false;
    std::vector<Request> waiting;
    std::optional<std::uint64_t> last;
    bool resync = false;  // confirmed when the link dropped
    std::uint64_t live = 0;
  };

  bool mark_resync(const std::string& name, Channel& channel);

  std::unordered_map<std::string, Channel, StringHash, std::equal_to<>> channels_;
  std::unordered_set<std::string> to_subscribe_;
  std::unordered_set<std::string> to_unsubscribe_;
  std::vector<std::pair<std::string, std::uint64_t>> to_resync_;
};

}  // namespace wsrelay
