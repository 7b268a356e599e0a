#pragma once
// DeliveryFilter: what one session must not be sent, although it is on one
// of its channels. Pure: the caller passes the time.
//
// - Its own publishes, when it did not ask for `echo` (docs/protocol.md §4).
//   Redis does not say who published a message, so the session remembers a
//   hash of (channel, payload) of each message it sent and drops the first
//   matching one that comes back live. Until its replay is queued the same
//   hashes also keep the stored last message out: a client that publishes
//   right after `open` would otherwise get its own message back as the
//   channel's stored value.
// - A replayed value's own live copy: an application that SETs before it
//   PUBLISHes sends that copy right after the read, so the next live message
//   on a replayed channel is dropped when it is the replayed value again,
//   within replay_guard_lifetime.
//
// Bounded: at most max_own remembered publishes (a client with more in
// flight sees the oldest come back) and one guard per replayed channel;
// entries expire, and an empty filter gives its capacity back.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/message.hpp>

namespace wsrelay {

class DeliveryFilter {
 public:
  using clock = std::chrono::steady_clock;

  static constexpr std::size_t max_own = 1024;
  // An own publish that has not come back by then was lost (pending queue
  // full, link down): its entry must not swallow someone else's message.
  static constexpr std::chrono::seconds own_lifetime{30};
  static constexpr std::chrono::seconds replay_guard_lifetime{1};

  // The session published `hash` (Message::hash_of) without echo on a
  // channel it also subscribes to.
  void published(std::uint64_t hash, clock::time_point now);

  // A live message for the session: false when it must not be delivered.
  bool pass_live(const Message& message, clock::time_point now);

  // The stored value of `channel` read for the replay: false when it must
  // not be sent, because a live copy of it is among `held` (the live
  // messages held back during the replay: deliver it once, in live order),
  // or the session published it itself without echo. When it passes, its
  // live copy is guarded against.
  bool pass_replayed(const Message& stored, const std::vector<MessagePtr>& held,
                     clock::time_point now);
  // A history entry replayed to the session: false when the session
  // published it itself without echo (whether its live copy came back yet
  // or not).
  bool pass_history(std::uint64_t hash, clock::time_point now) const;
  // The replay is queued: own publishes that already came back are forgotten.
  void replay_done();

  // Drops expired entries; releases capacity when nothing is left.
  void expire(clock::time_point now);
  bool empty() const { return own_.empty() && guards_.empty(); }
  std::size_t capacity_bytes() const {
    return own_.capacity() * sizeof(Own) + guards_.capacity() * sizeof(Guard);
  }

 private:
  struct Own {
    std::uint64_t hash;
    clock::time_point until;
    bool came_back = false;  // kept until the replay is queued
  };
  struct Guard {
    std::string channel;
    std::uint64_t hash;
    clock::time_point until;
  };

  std::vector<Own> own_;
  std::vector<Guard> guards_;
  bool replay_done_ = false;
};

}  // namespace wsrelay
