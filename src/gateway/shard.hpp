#pragma once
// Shard: one io_context run by one thread, and the sessions that live on it.
// Owns the shard-local index channel -> sessions, the once-per-turn write
// flush, and a periodic tick for deadlines (handshake, idle, ping,
// heartbeat) so that a session needs no timer of its own.
//
// Settings: the shard holds the current configuration as an immutable,
// shared snapshot. A reload posts a new snapshot to every shard
// (set_config); sessions read config() when they need a value, so the
// sessions already open follow the new limits, with no lock on the hot path.
//
// Threading: everything here runs on this shard's thread, except context()
// and session_count(). The index holds raw session pointers: a session
// removes itself from the index (in Shard::remove) before the shard drops
// the owning shared_ptr, and removal is always posted, never done while the
// index is being walked.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <wsrelay/gateway/admission.hpp>
#include <wsrelay/gateway/http_session.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/string_hash.hpp>

namespace wsrelay {

struct Config;
class Admission;
class Authorizer;
class Hub;
class Metrics;
class WsSession;
struct WsUpgrade;

class Shard {
 public:
  using clock = std::chrono::steady_clock;

  Shard(std::size_t index, net::io_context& context, std::shared_ptr<const Config> config,
        Metrics& metrics, Hub& hub, Authorizer& authorizer, Admission& admission);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  net::io_context& context() { return context_; }
  std::size_t index() const { return shard_index_; }
  // The current snapshot. A reference stays valid until the shard's thread
  // returns to its loop (set_config runs there too).
  const Config& config() const { return *config_; }
  // Shard thread: from now on `config` is current; open sessions adjust.
  void set_config(std::shared_ptr<const Config> config);
  Metrics& metrics() { return metrics_; }
  Hub& hub() { return hub_; }
  Authorizer& authorizer() { return authorizer_; }
  Admission& admission() { return admission_; }

  // Any thread: connections (handshakes and WebSocket sessions) alive on this shard.
  std::size_t session_count() const { return session_count_.load(std::memory_order_relaxed); }

  void start();  // shard thread: starts the tick
  // Takes a freshly accepted socket (already on this shard's context) with
  // its handshake ticket and, when its peer was limited by address at
  // accept, its address ticket; `listener` says which listener accepted it.
  void accept(tcp::socket socket, Admission::Ticket handshake, Admission::Ticket address,
              Listener listener = Listener::main);
  // The handshake `from` succeeded: a WsSession takes its socket over.
  void upgrade(HttpSession* from, tcp::socket socket, WsUpgrade upgrade);
  // Server going away: no new sessions; every session is closed with 1001,
  // spread evenly with jitter over `drain` (all at once when zero).
  // `drained` runs once, on this thread, as soon as no connection is left
  // (at once when there is none).
  void shutdown(std::chrono::milliseconds drain, std::function<void()> drained);

  void subscribe(WsSession* session, const std::vector<std::string>& channels);
  void remove(WsSession* session);  // unsubscribes its channels, drops ownership
  void remove(HttpSession* handshake);

  // The backend refused `channel`: it leaves the index and each of its
  // sessions is closed with 1008 and `reason`.
  void refuse(const std::string& channel, const std::string& reason);

  // Live delivery on these channels (empty: every channel) was interrupted:
  // its sessions with positions are closed, to resume (docs/history.md).
  void interrupt_history(const std::vector<std::string>& channels);

  // Fan-out of one message to the sessions on its channel.
  void deliver(const MessagePtr& message);

  // Sessions with new output are flushed once, at the end of this loop turn,
  // so that several messages for one socket go out in one write.
  void schedule_flush(WsSession* session);

  // Read scratch buffer shared by the shard's sessions (reads are
  // synchronous once a socket is readable, so one buffer serves all).
  char* read_buffer() { return read_buffer_.get(); }
  static constexpr std::size_t read_buffer_size = 64 * 1024;
  // An index slot that points into no list (the channel was refused).
  static constexpr std::uint32_t no_slot = 0xffffffff;

  // Shard thread: messages a drop policy removed from `session_id`'s queue.
  // Counted at once, logged at most every drop_log_period per shard.
  void count_dropped(std::uint64_t session_id, std::size_t messages);

  // Shard thread: a session gave `bytes` of heap back (an idle queue).
  void note_released(std::size_t bytes) { released_.fetch_add(bytes, std::memory_order_relaxed); }
  // Any thread: the bytes released since the last call.
  std::size_t take_released() { return released_.exchange(0, std::memory_order_relaxed); }

  clock::time_point now() const { return now_; }
  static constexpr std::chrono::milliseconds tick_period{250};
  bool shutting_down() const { return shutting_down_; }

 private:
  void tick();
  void flush_all();
  void drain_due();
  // Also the drain countdown: calls drained_ when the count reaches zero.
  void count_sessions();

  std::size_t shard_index_;
  std::shared_ptr<const Config> config_;
  Metrics& metrics_;
  Hub& hub_;
  Authorizer& authorizer_;
  Admission& admission_;
  net::io_context& context_;
  net::steady_timer tick_timer_{context_};
  clock::time_point now_ = clock::now();
  std::unique_ptr<char[]> read_buffer_;
  std::unordered_map<HttpSession*, std::shared_ptr<HttpSession>> handshakes_;
  std::unordered_map<WsSession*, std::shared_ptr<WsSession>> sessions_;
  std::unordered_map<std::string, std::vector<WsSession*>, StringHash, std::equal_to<>> index_;
  std::vector<std::shared_ptr<WsSession>> dirty_;
  std::vector<std::shared_ptr<WsSession>> flushing_;
  bool flush_posted_ = false;
  bool shutting_down_ = false;
  std::function<void()> drained_;  // set by shutdown(), called once
  // Sessions in the order of their drain close time (ascending).
  std::vector<std::pair<clock::time_point, std::weak_ptr<WsSession>>> drain_schedule_;
  std::size_t drain_next_ = 0;
  net::steady_timer drain_timer_{context_};
  std::atomic<std::size_t> session_count_{0};
  std::atomic<std::size_t> released_{0};
  std::uint64_t next_session_id_ = 1;
  std::uint64_t dropped_unlogged_ = 0;
  std::uint64_t last_dropping_session_ = 0;
  clock::time_point last_drop_log_{};
};

}  // namespace wsrelay
