#pragma once
// SubscriptionTracker: the bookkeeping of the Redis subscriber connection,
// without I/O (the sans-io core under RedisEngine, as Boost.Redis keeps its
// subscription tracker). It is fed the connection's ups and downs, the
// hub's subscribe and unsubscribe calls, barrier requests and the replies
// that are not messages, each already classified once (Push); it answers
// with the commands to write and what happened (Events). Tested by feeding
// it every interleaving.
//
// - Wanted channels: the hub counts references; this holds the set, sends
//   SUBSCRIBE / UNSUBSCRIBE in chunks, and after every (re)connect one
//   SUBSCRIBE run with every wanted channel.
//   A pattern's subscription key (routes.hpp) goes out in PSUBSCRIBE /
//   PUNSUBSCRIBE instead, and its acks come back under the same key.
// - Confirmation: a channel is confirmed by the ack of its latest SUBSCRIBE
//   (one still unanswered keeps it unconfirmed), only while it is wanted.
// - Refusals: an error reply answers the oldest SUBSCRIBE not fully acked
//   (replies come in command order; a SUBSCRIBE's acks come in one run).
//   Redis refuses a whole SUBSCRIBE when one of its channels is not allowed
//   (ACL -NOPERM), so a refused batch is sent again one channel per command:
//   only a channel refused on its own is reported, the others are
//   subscribed as usual.
// - Barriers: one PING each; a pong completes the oldest. Every message
//   Redis sent before the pong has been seen by then.
// - Settled: connected, and the SUBSCRIBE run of the last (re)connect
//   answered (each channel acked, or refused on its own). Until then a
//   PUBLISH would reach Redis while the gateway's own subscription is not
//   back, and its browsers would miss it: the engine holds client publishes
//   until this is true (RedisEngine, PublishQueue).
#include <cstddef>
#include <cstdint>
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

class SubscriptionTracker {
 public:
  // Redis accepts any number of arguments, but one huge SUBSCRIBE holds its
  // event loop and our output buffer for long; chunks keep both short.
  static constexpr std::size_t max_channels_per_command = 1000;

  using Command = std::vector<std::string>;

  // What a call caused, in the order the shell must act on it: write
  // `send`, then report the rest.
  struct Events {
    std::vector<Command> send;
    std::vector<std::string> confirmed;
    // Refused on its own (ACL): the channel and Redis's error text.
    std::vector<std::pair<std::string, std::string>> refused;
    std::vector<std::function<void()>> barriers_done;
    bool settled = false;  // became settled during this call
    // An error reply that answers no SUBSCRIBE (to be logged).
    std::string unexpected_error;
  };

  Events connected();
  // Acks, pongs and errors of the old connection will never come.
  void disconnected();

  Events subscribe(const std::vector<std::string>& channels);
  Events unsubscribe(const std::vector<std::string>& channels);
  Events barrier(std::function<void()> done);

  // A reply that is not a message (subscribe/unsubscribe acks, pongs,
  // errors, anything else).
  Events on_reply(const Push& push);

  // A message can still arrive after its UNSUBSCRIBE was sent.
  bool wants(std::string_view channel) const { return wanted_.contains(channel); }
  bool settled() const { return connected_ && resync_commands_ == 0; }
  // Channels the subscriber is subscribed to, as Redis's last ack said.
  long long subscribed_count() const { return subscribed_count_; }

 private:
  struct SubscribeCommand {
    std::vector<std::string> channels;
    std::size_t acked = 0;
    bool resync = false;  // part of (or a retry of) the run after a (re)connect
  };

  template <typename It>
  void send_subscribe(It first, It last, bool resync, Events& events);
  void answered(const SubscribeCommand& command, Events& events);
  void on_error(std::string_view error, Events& events);

  bool connected_ = false;
  std::unordered_set<std::string, StringHash, std::equal_to<>> wanted_;
  // SUBSCRIBEs sent on the current connection and not yet acknowledged:
  // per channel, and per command in sending order.
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> outstanding_;
  std::deque<SubscribeCommand> commands_;
  std::size_t resync_commands_ = 0;
  std::deque<std::function<void()>> barriers_;
  long long subscribed_count_ = 0;
};

}  // namespace wsrelay
