#pragma once
// ShardedSubscriptions: the subscriber side of a redis+cluster:// engine
// with sharded pub/sub (redis.sharded), without I/O. One ShardTracker per
// master of the slot map, each channel held by the master of its slot; the
// shell (RedisEngine) keeps one subscriber connection per master and feeds
// this the map, the connections' ups and downs, the hub's subscribes and
// the replies; the Events say what to write where, which connections to
// open and close, and what happened.
//
// - Placing: a channel goes to the master the map names for its slot; with
//   no map, or no owner, it waits (unplaced) and the engine is unsettled.
// - Moving: a channel stays on its master until that node says the slot
//   left: its own sunsubscribe (sent after every message it delivered on
//   the channel), or -MOVED to an SSUBSCRIBE. A map is one node's view and
//   may be behind, so a map alone never moves a channel from a master it
//   still lists. A lost channel goes to the node a -MOVED names at once,
//   and otherwise waits for the next map (`refresh` asks for one); a
//   master gone from the map hands its channels to their new owners.
// - Unconfirmed: a channel whose shard dropped, or that moved, is reported,
//   and confirmed again once subscribed where it now belongs: messages
//   published in between did not reach the gateway.
// - Settled: every wanted channel placed, every shard connected and every
//   SSUBSCRIBE of a reconnect or a move answered. The engine's publish
//   queue waits for it, as for SubscriptionTracker::settled().
// - Barriers: a PING on every shard; done when every pong is back (a shard
//   removed meanwhile counts as answered).
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <wsrelay/backend/shard_tracker.hpp>
#include <wsrelay/wire/cluster.hpp>
#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {

class ShardedSubscriptions {
 public:
  using Command = ShardTracker::Command;

  struct Events {
    std::vector<std::pair<HostPort, Command>> send;
    std::vector<HostPort> open;   // start a subscriber connection to this master
    std::vector<HostPort> close;  // stop this node's (no longer a master)
    std::vector<std::string> confirmed;
    std::vector<std::pair<std::string, std::string>> refused;
    // No longer subscribed (its shard dropped, or it moved); each is
    // confirmed again later.
    std::vector<std::string> unconfirmed;
    std::vector<std::function<void()>> barriers_done;
    std::string unexpected_error;
    bool refresh = false;  // read the slot map again
    bool settled = false;  // became settled during this call
  };

  // Every map read, changed or not: channels waiting for one are placed,
  // masters new to it are opened, and those gone from it closed.
  Events set_map(const SlotMap& map);
  Events link_state(const HostPort& shard, bool up);
  Events subscribe(const std::vector<std::string>& channels);
  Events unsubscribe(const std::vector<std::string>& channels);
  Events barrier(std::function<void()> done);
  // A reply that is not a message, from `shard`'s connection.
  Events on_reply(const HostPort& shard, const Push& push);

  bool wants(std::string_view channel) const { return wanted_.contains(channel); }
  bool settled() const;
  // A map, and every master's subscriber connected.
  bool up() const;
  long long subscribed_count() const;
  std::size_t shard_count() const { return shards_.size(); }
  // Where `channel` is subscribed now (nullptr: nowhere yet).
  const HostPort* shard_of(std::string_view channel) const;

 private:
  struct Want {
    int slot = 0;
    std::optional<HostPort> shard;
  };
  using Wanted = std::unordered_map<std::string, Want, StringHash, std::equal_to<>>;

  // Runs `f` on a ShardTracker::Events and merges them into `events`.
  template <typename F>
  void with_shard(const HostPort& address, ShardTracker& shard, Events& events, F f);
  void place(Wanted::iterator it, bool resync, Events& events);
  void assign(Wanted::iterator it, const HostPort& address, bool resync, Events& events);
  void unplace(Wanted::iterator it, Events& events);
  void finish(Events& events, bool was_settled) const;

  Wanted wanted_;
  std::map<HostPort, ShardTracker> shards_;
  std::optional<SlotMap> map_;
  std::size_t unplaced_ = 0;
};

}  // namespace wsrelay
