#pragma once
// WsSession: one WebSocket connection, from the authorized upgrade (handed
// over by HttpSession with the socket) to the close. Owns its socket, its
// outbound queue (OutboundQueue: bounded, with the facility's slow-consumer
// policy), what it must not be sent (DeliveryFilter) and the frame parser
// for what the client sends. Lives on one shard and runs only on that
// shard's thread.
//
// Life: subscribing (registered with the shard and the hub, waiting for
// the backend to confirm every channel; nothing written yet) -> replaying
// (101 queued: "open means subscribed"; live messages are held until the
// stored last messages have been queued) -> open -> closing (close frame
// queued, waiting for the peer's) -> finished (socket closed, removed from
// the shard). A session without channels to subscribe opens at once. One
// that cannot open (the handshake deadline passes, the server shuts down,
// Redis refuses a channel) is answered with an HTTP status instead, as the
// 101 was never written.
//
// Writes: a single writer. Everything (the 101 response, data frames shared
// with other sessions, pings, heartbeats, the close frame) goes through the
// queue; flush() writes as much as the socket takes without blocking and
// waits for writability only when the kernel buffer is full.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/gateway/admission.hpp>
#include <wsrelay/gateway/delivery_filter.hpp>
#include <wsrelay/gateway/outbound_queue.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/token_bucket.hpp>
#include <wsrelay/wire/ws_frame.hpp>

namespace wsrelay {

class Shard;
struct PublishRefusal;

// What the HTTP side decided, handed over with the socket.
struct WsUpgrade {
  std::uint64_t id = 0;  // the connection's, in the logs since accept
  std::string facility;
  Flags flags = 0;  // requested and allowed
  std::vector<std::string> subscribe;
  std::vector<std::string> publish;
  std::string client;         // the client address for logs
  std::string user;           // the identity's user, for the access line; empty when none
  std::string response;       // the 101, with Sec-WebSocket-Accept and the subprotocol
  std::string early;          // bytes the client sent right after its request
  Admission::Ticket slot;     // its max_connections slot
  Admission::Ticket address;  // its client address's count, when limited
  std::chrono::steady_clock::time_point deadline;  // the handshake's
  std::chrono::steady_clock::time_point accepted;  // when the connection was accepted
  // The command channel (command_channel.path): a CommandSession with this
  // key prefix, instead of a pub/sub session.
  bool command_channel = false;
  std::string key_prefix;
  // History (docs/history.md): the client asked for positions (?history or
  // ?since) on a facility with history; its replay comes from the streams.
  bool positions = false;
  std::optional<StreamId> since;
  std::size_t history_entries = 0;
  int history_ttl_seconds = 0;
};

class WsSession : public std::enable_shared_from_this<WsSession>, private FrameSink {
 public:
  using clock = std::chrono::steady_clock;

  WsSession(Shard& shard, tcp::socket socket, WsUpgrade upgrade);
  ~WsSession() override;
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  void start();

  // Shard thread. A message for one of this session's channels.
  // Returns true when the message was queued for writing.
  bool enqueue(const MessagePtr& message);
  // Shard thread. Writes what is queued (called once per loop turn). `now`
  // is when the write is issued, for the delivery latency.
  void flush(clock::time_point now);
  // Shard thread. Deadlines: idle, ping, heartbeat, close; the soft limit.
  void tick(clock::time_point now);
  // Shard thread. The server is going away.
  void go_away();
  // Shard thread. The backend refused one of this session's channels: close
  // with 1008 and `reason`, counted and logged.
  void close_refused(std::string_view reason);
  // Shard thread. Live delivery on these channels (empty: all) was
  // interrupted: a session with positions closes with 1013 to resume.
  void interrupt_history(const std::vector<std::string>& channels);
  // Shard thread. The shard's configuration snapshot was replaced.
  void settings_changed();

  const std::vector<std::string>& subscribed() const { return subscribe_; }
  // Shard's bookkeeping: where this session sits in the shard's list for
  // subscribed()[i], so removal is O(1) (swap with the last, pop).
  std::vector<std::uint32_t>& index_slots() { return index_slots_; }

 protected:
  // For a session built on this one (CommandSession): the same framing,
  // queue, limits, deadlines and close, another meaning for data messages.
  Shard& shard() const { return shard_; }
  std::uint64_t id() const { return id_; }
  // Open (or replaying): data messages are taken, answers may be queued.
  bool accepting_data() const { return state_ == State::open || state_ == State::replaying; }
  void count_message_in() { ++messages_in_; }
  // True when `payload` was the heartbeat (websocket.heartbeat) and was answered.
  bool answer_heartbeat(bool binary, std::string_view payload);
  // A token of the publish_rate bucket; false (and nothing else done) when none is left.
  bool take_rate_token();
  // Queues a text frame of the session's own within the queue limit; false
  // when the session is closing instead (slow consumer).
  bool queue_own_text(std::string_view text);
  void start_close(CloseCause cause, std::uint16_t code, std::string_view reason,
                   bool drop_queued = false);
  void start_close(CloseCause cause, const CloseReason& why, bool drop_queued = false) {
    start_close(cause, why.code, why.text, drop_queued);
  }
  // FrameSink
  void on_message(bool binary, std::string_view payload) override;

 private:
  enum class State : std::uint8_t { subscribing, replaying, open, closing, finished };
  // What the handshake left for the opening: freed once open.
  struct Opening {
    std::string response;           // the 101
    std::string early;              // bytes the client sent right after its request
    std::optional<StreamId> since;  // with positions: where the client resumes
    std::size_t history_entries = 0;
    int history_ttl_seconds = 0;
  };

  void on_confirmed();
  // Queues the 101, starts reading.
  void open_websocket();
  void heartbeat_at_open();
  // Before the 101: answers HTTP `status` with `reason` and closes.
  void refuse_upgrade(int status, std::string_view reason);
  // The handshake's outcome: its duration observed, its access line.
  void handshake_done(int status, std::string_view reason);
  // The first cause of the close of an opened session: counted once, and
  // named in its access line.
  void note_close(CloseCause cause, std::uint16_t code);
  void log_close();
  void on_replay(std::vector<std::optional<std::string>> values);
  void on_history_replay(std::optional<HistoryReplay> replay);
  // The replay is queued: the held live messages follow, the session is open.
  void replay_done(clock::time_point now);
  void on_publish_refused(const PublishRefusal& why);

  // reading
  void do_read();
  void on_readable(error_code ec);

  // FrameSink
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;
  void on_protocol_error(std::uint16_t code, std::string_view reason) override;

  // writing
  void push_own(std::string frame);
  void schedule_flush();
  void on_writable(error_code ec);

  // ws_session_limits.cpp: the outbound limits and the publish rate.
  OutboundQueue::Limits limits() const;
  // False (and the session closing with 1013) when `bytes` more would pass
  // max_queue_bytes and the facility's policy cannot make room.
  bool admit(std::size_t bytes, const Message* incoming = nullptr, bool incoming_is_newest = true);
  void close_slow_consumer(std::string_view which_limit, std::size_t limit);
  void note_queue_growth();
  // False when the client is over publish_rate (the session is closing).
  bool within_publish_rate();
  bool queue_message(const MessagePtr& message, bool newest = true);

  void linger();
  void finish(std::string_view why);
  void do_finish();

  Shard& shard_;
  tcp::socket socket_;
  std::uint64_t id_;

  // The small fields together: a session is the bulk of the memory per
  // connection (docs/benchmarks.md), so no padding between them.
  State state_ = State::subscribing;
  SlowConsumerPolicy policy_ = SlowConsumerPolicy::close;  // the facility's, from the config
  Flags flags_ = 0;
  bool waiting_writable_ = false;
  bool flush_scheduled_ = false;
  bool reading_ = false;
  bool close_after_write_ = false;  // echoed close frames
  bool peer_closed_ = false;
  bool finish_posted_ = false;
  bool lingering_ = false;  // everything written, FIN sent, discarding input
  bool close_noted_ = false;
  bool positions_ = false;  // gets the positioned form of messages (docs/history.md)
  CloseCause close_cause_ = CloseCause::connection_lost;
  std::uint16_t close_code_ = 1006;  // no close frame either way

  std::string facility_;
  std::string client_;
  std::string user_;
  std::vector<std::string> subscribe_;
  std::vector<std::string> publish_;
  std::vector<std::uint32_t> index_slots_;
  std::unique_ptr<Opening> opening_;  // until the 101 is queued
  FrameParser parser_;

  OutboundQueue queue_;
  DeliveryFilter filter_;
  Admission::Ticket slot_;     // its max_connections slot, until it is refused or finished
  Admission::Ticket address_;  // its client address's count, until finished

  TokenBucket publish_bucket_;

  // For the access lines and the close reason (not read on the hot path but
  // for the counters, plain members of this one thread).
  clock::time_point accepted_;
  clock::time_point opened_{};        // the 101 queued; zero when never opened
  std::uint64_t messages_out_ = 0;    // messages from Redis (live and replayed) queued
  std::uint64_t messages_in_ = 0;     // data messages read (heartbeats included)
  std::uint64_t bytes_out_ = 0;       // bytes written after the 101
  std::uint64_t bytes_in_ = 0;        // bytes read after the request
  std::uint64_t response_bytes_ = 0;  // the 101 itself, not counted in bytes_out_
  // The read off the Redis socket of the oldest message queued since the
  // last complete write; zero when none (replays and the session's own
  // frames have none).
  clock::time_point oldest_unwritten_{};

  clock::time_point deadline_;  // the handshake's while subscribing, then the close deadline
  clock::time_point last_read_;
  clock::time_point last_data_;  // last data frame (message or heartbeat) queued
  clock::time_point last_ping_;
};

}  // namespace wsrelay
