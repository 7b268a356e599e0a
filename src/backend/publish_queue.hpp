#pragma once
// PublishQueue: the commands on their way to the Redis command connection
// (client publishes and the replay's reads), without I/O: the sans-io core
// of RedisEngine's command side, tested by feeding it values.
//
// - Order: everything goes out in the order it was offered.
// - The gate: commands wait while the queue is closed, that is while the
//   command connection is down or the subscriber has not re-subscribed
//   every channel since it came back (SubscriptionTracker::settled). Why
//   the second: a publish that reached Redis before the gateway's own
//   SUBSCRIBE would miss the gateway's own browsers.
// - The bound: a publish is held, against max_messages and max_bytes, from
//   the moment it is offered until Redis has answered it, so the bound
//   covers a Redis that is down and one that falls behind alike; past it
//   the publish is refused and its sender told. A read is held only while
//   it waits.
// - At least once: a publish written and not answered when the connection
//   dropped is sent again after the reconnect, ahead of anything offered
//   since (Redis may have run it: a duplicate, but never a silent loss).
// - Refusal: a publish Redis answers with an error (ACL -NOPERM) calls its
//   `refused` with the error text, once.
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

struct PublishOp {
  std::string channel;
  std::string payload;
  int expire_seconds = 0;  // > 0: SET channel payload EX expire_seconds after the PUBLISH
  std::function<void(std::string_view error)> refused;  // may be empty
  std::optional<HistoryRule> history;  // set: appended to the channel's stream (history.hpp)
  std::size_t bytes() const { return channel.size() + payload.size(); }
};

// A read: GET of `keys` (the stored last messages), or, when `command` is
// set, that one command (a history read) answered through `reply`
// (nullptr: the connection dropped first).
struct ReadOp {
  std::vector<std::string> keys;
  std::function<void(std::vector<std::optional<std::string>>)> done;
  std::vector<std::string> command;
  std::function<void(const RespValue*)> reply;
  std::size_t bytes() const;
};

class PublishQueue {
 public:
  using Op = std::variant<PublishOp, ReadOp>;

  PublishQueue(std::size_t max_messages, std::size_t max_bytes)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}

  // False when the bound is reached: the publish is not taken.
  bool publish(PublishOp op);
  // False when the bound is reached: answer the read with nothing.
  bool read(ReadOp op);

  // Open: the command connection is up and the subscriber settled.
  void set_open(bool open);
  bool is_open() const { return open_; }
  // The next command to write, while open; nullopt when none may go now.
  // A read leaves the bound when taken; a publish when answered.
  std::optional<Op> next();

  // Redis answered a publish taken from next(): `error` empty when it was
  // accepted. Calls its `refused` on an error.
  void answered(PublishOp& op, std::string_view error);
  // A publish taken from next() will never be answered (the connection
  // dropped): it goes back, ahead of what was offered since.
  void lost(PublishOp op);

  // `done` runs once every publish offered so far has been answered;
  // idle_waiters() hands it over when that is the case.
  void when_published(std::function<void()> done) { waiters_.push_back(std::move(done)); }
  std::vector<std::function<void()>> idle_waiters();

  std::size_t held_messages() const { return held_messages_; }
  std::size_t held_bytes() const { return held_bytes_; }
  std::size_t waiting() const { return queue_.size(); }

 private:
  bool hold(std::size_t bytes);
  void release(std::size_t bytes);

  std::size_t max_messages_;
  std::size_t max_bytes_;
  bool open_ = false;
  std::deque<Op> queue_;
  std::size_t requeued_ = 0;  // lost publishes put back at the front since the last open
  std::size_t held_messages_ = 0;
  std::size_t held_bytes_ = 0;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace wsrelay
