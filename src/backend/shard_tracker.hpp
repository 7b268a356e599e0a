#pragma once
// ShardTracker: the bookkeeping of one shard's subscriber connection with
// sharded pub/sub (redis.sharded: SSUBSCRIBE / SUNSUBSCRIBE, Redis 7),
// without I/O. ShardedSubscriptions (sharded_subscriptions.hpp) keeps one
// per master and decides which channels each holds; this one sends their
// commands, matches the replies, and says what they mean.
//
// Why not SubscriptionTracker: a shard channel lives in one slot, and a
// slot can leave its node at any moment (a resharding, a failover). So:
// - One channel per command: SSUBSCRIBE and SUNSUBSCRIBE refuse channels
//   of two slots in one command (-CROSSSLOT).
// - Lost channels: the node unsubscribes a channel by itself when its slot
//   leaves (an `sunsubscribe` push nobody asked for), and answers -MOVED
//   to an SSUBSCRIBE of a slot it does not serve. Both are reported as
//   lost, with the error text, for the owner of the set to place the
//   channel again; neither is a refusal.
// - Replies matched in order, with one ambiguity: a SUNSUBSCRIBE sent as
//   the slot leaves is answered either by its ack, or by the node's own
//   push and then -MOVED. The push is taken as the ack, and a -MOVED that
//   names another slot than the oldest command's is the answer of such an
//   already matched SUNSUBSCRIBE, and ignored. Any error left to the wrong
//   command of the same slot is harmless: every command of a slot the node
//   no longer serves fails alike.
// - Settled: connected, and every SSUBSCRIBE marked `resync` (after a
//   reconnect, or of a channel moved here) answered.
// - Barriers: one PING each, completed by its pong, as SubscriptionTracker.
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {

class ShardTracker {
 public:
  using Command = std::vector<std::string>;

  // Appended to by every call, so one set of events can gather several
  // shards' (ShardedSubscriptions).
  struct Events {
    std::vector<Command> send;
    std::vector<std::string> confirmed;
    // Refused by the node (ACL): the channel and the error text.
    std::vector<std::pair<std::string, std::string>> refused;
    // No longer subscribed here, not by request: the channel and why (the
    // error text, or empty for the node's own sunsubscribe).
    std::vector<std::pair<std::string, std::string>> lost;
    std::vector<std::function<void()>> barriers_done;
    std::string unexpected_error;
  };

  void connected(Events& events);
  void disconnected();
  // `resync`: the channel was subscribed elsewhere (or before a drop), and
  // settled() waits for this SSUBSCRIBE's answer.
  void subscribe(const std::string& channel, bool resync, Events& events);
  void unsubscribe(const std::string& channel, Events& events);
  // Lets the channel go without a command: its slot has another owner,
  // which has unsubscribed it or soon will.
  void forget(const std::string& channel);
  void barrier(std::function<void()> done, Events& events);
  // The barriers not yet completed (the shard is being removed).
  std::vector<std::function<void()>> take_barriers();
  // A reply that is not a message.
  void on_reply(const Push& push, Events& events);

  bool is_connected() const { return connected_; }
  bool settled() const { return connected_ && resync_ == 0; }
  bool holds(std::string_view channel) const { return channels_.contains(channel); }
  const std::unordered_set<std::string, StringHash, std::equal_to<>>& channels() const {
    return channels_;
  }
  long long subscribed_count() const { return subscribed_count_; }

 private:
  struct Pending {
    bool subscribe = true;
    std::string channel;
    bool resync = false;
  };

  void send_subscribe(const std::string& channel, bool resync, Events& events);
  // Removes the oldest pending SUNSUBSCRIBE of `channel`; false when none.
  bool match_unsubscribe(std::string_view channel);
  void matched_subscribe(const Pending& pending, Events& events, bool acked,
                         std::string_view error);
  void lose(const std::string& channel, std::string why, Events& events);

  bool connected_ = false;
  std::unordered_set<std::string, StringHash, std::equal_to<>> channels_;
  std::deque<Pending> pending_;
  // SSUBSCRIBEs sent and not answered, per channel: a channel is confirmed
  // by the answer of its latest one.
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> subscribing_;
  std::size_t resync_ = 0;
  std::deque<std::function<void()>> barriers_;
  long long subscribed_count_ = 0;
};

}  // namespace wsrelay
