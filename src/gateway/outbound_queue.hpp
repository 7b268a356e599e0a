#pragma once
// OutboundQueue: everything waiting to be written to one client, and the
// limits on it. Pure: no socket and no clock of its own; the caller passes
// the time, so every interleaving is tested by feeding values.
//
// Entries are shared data messages (one frame, many queues) or frames built
// for this client only (the 101, pongs, pings, heartbeats, the close frame,
// an HTTP answer). A second list, `held`, keeps live messages that arrive
// while the client's stored last messages are being read (the replay): they
// count against the limits and join the queue once the replay is queued.
//
// Limits, in the style of Redis's client-output-buffer-limit:
// - hard (`max_bytes`), acted on when something is added: the facility's
//   policy (slow_consumer.hpp) either refuses it (the client is closed with
//   1013) or drops queued data messages to make room;
// - soft (`soft_bytes` for `soft_duration`): a client whose queue stays over
//   it that long without a break is not going to catch up.
// Why drops never reorder: drop-oldest and keep-latest only remove entries,
// and never the frame being written (the stream must stay well-formed), a
// frame built for this client (control frames, the 101) or the close frame.
//
// Memory: an emptied queue gives its capacity back once it has stayed empty
// for `idle_release`, so a connection that was busy once costs what a fresh
// one does when it is idle again.
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/slow_consumer.hpp>

namespace wsrelay {

class OutboundQueue {
 public:
  using clock = std::chrono::steady_clock;

  // How long an empty queue keeps its capacity.
  static constexpr std::chrono::seconds idle_release{2};

  struct Limits {
    std::size_t max_bytes = 0;
    std::size_t soft_bytes = 0;  // 0: no soft limit
    std::chrono::seconds soft_duration{0};
    SlowConsumerPolicy policy = SlowConsumerPolicy::close;
  };

  // What admit() decided and what it cost.
  struct Admission {
    bool admitted = true;
    std::size_t dropped = 0;  // data messages dropped by the policy to make room
    std::size_t freed = 0;    // their bytes
  };

  void push(MessagePtr message);
  void push_own(std::string frame);
  void hold(MessagePtr message);
  const std::vector<MessagePtr>& held() const { return held_; }
  // Moves the held messages to the end of the queue, oldest first.
  void release_held();
  void clear_held();
  // Drops the held messages whose stream id is at or below `watermark`
  // (a history replay covered them). Returns how many.
  std::size_t drop_held_through(StreamId watermark);

  // Views of the unwritten bytes, in order, as many as fit in `out`.
  std::size_t gather(std::span<std::string_view> out) const;
  // `written` bytes of what gather() returned went out. The soft-limit clock
  // stops when the queue falls to `soft_bytes` or below.
  void consume(std::size_t written, std::size_t soft_bytes);
  bool has_unwritten() const { return head_ < entries_.size(); }
  // Bytes queued and not written, plus the held ones: what the limits count.
  std::size_t waiting_bytes() const { return queued_bytes_ + held_bytes_; }

  // May `bytes` more be added? `incoming` is the data message asking (null
  // for a frame of this client's own); `incoming_is_newest` is false for a
  // replayed value, which is older than the held live messages. When the
  // answer is no, nothing was dropped and the caller closes the client.
  Admission admit(std::size_t bytes, const Message* incoming, bool incoming_is_newest,
                  const Limits& limits);
  // Releases every data message not partly written and the held ones
  // (closing a slow consumer); frames built for this client stay.
  void drop_unwritten();

  // Starts the soft-limit clock when the queue has just passed `soft_bytes`.
  // `now` is called only then (a clock read per push would cost).
  template <typename Now>
  void note_growth(std::size_t soft_bytes, Now now) {
    if (!over_soft_since_ && soft_bytes > 0 && waiting_bytes() > soft_bytes)
      over_soft_since_ = now();
  }
  // True when the queue has been over the soft limit for soft_duration
  // without a break. Restarts the clock when the limit was lowered.
  bool soft_limit_passed(clock::time_point now, const Limits& limits);

  // Gives the capacity of an empty queue back once it has been empty for
  // idle_release. Called from the periodic tick. Returns the bytes released.
  std::size_t trim(clock::time_point now);
  // Heap bytes held by the containers (for tests and memory accounting).
  std::size_t capacity_bytes() const;

 private:
  struct Entry {
    MessagePtr message;  // a shared data frame, or
    std::string own;     // a frame or answer built for this client only
    std::string_view bytes() const { return message ? message->frame() : std::string_view(own); }
  };

  void add(Entry entry);
  std::size_t make_room(std::size_t need, SlowConsumerPolicy policy, const Message* incoming,
                        bool incoming_is_newest, std::size_t& dropped);

  std::vector<Entry> entries_;
  std::size_t head_ = 0;         // first entry not fully written
  std::size_t head_offset_ = 0;  // bytes of entries_[head_] already written
  std::size_t queued_bytes_ = 0;
  std::vector<MessagePtr> held_;
  std::size_t held_bytes_ = 0;
  std::optional<clock::time_point> over_soft_since_;
  std::optional<clock::time_point> empty_since_;
};

}  // namespace wsrelay
