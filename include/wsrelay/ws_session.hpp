#pragma once
// WsSession: one client connection, from the HTTP request to the close.
// Owns its socket, its outbound queue (bounded in bytes: max_queue_bytes)
// and the frame parser for what the client sends. Lives on one shard and
// runs only on that shard's thread.
//
// Life: handshake (HTTP request read, routed, authorized, 101 queued) ->
// replaying (subscribed; live messages wait in `pending_` until the stored
// last messages have been queued) -> open -> closing (close frame queued,
// waiting for the peer's) -> finished (socket closed, removed from shard).
//
// Writes: a single writer. Everything (the 101 response, data frames shared
// with other sessions, pings, heartbeats, the close frame) goes through
// `queue_`; flush() writes as much as the socket takes without blocking and
// waits for writability only when the kernel buffer is full.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/message.hpp>
#include <wsrelay/net.hpp>
#include <wsrelay/protocol.hpp>
#include <wsrelay/slow_consumer.hpp>
#include <wsrelay/token_bucket.hpp>
#include <wsrelay/ws_frame.hpp>

namespace wsrelay {

class Shard;
struct AuthDecision;
struct AuthRequest;
class HttpRequestReader;

class WsSession : public std::enable_shared_from_this<WsSession>, private FrameSink {
 public:
  using clock = std::chrono::steady_clock;

  WsSession(Shard& shard, tcp::socket socket, std::uint64_t id);
  ~WsSession() override;

  void start();
  std::uint64_t id() const { return id_; }

  // Shard thread. A message for one of this session's channels.
  // Returns true when the message was queued for writing.
  bool enqueue(const MessagePtr& message);
  // Shard thread. Writes what is queued (called once per loop turn).
  void flush();
  // Shard thread. Deadlines: handshake, idle, ping, heartbeat, close.
  void tick(clock::time_point now);
  // Shard thread. The server is going away.
  void go_away();
  // Shard thread. The backend refused one of this session's channels: close
  // with 1008 and `reason`, counted and logged.
  void close_refused(std::string_view reason);
  // Shard thread. The shard's configuration snapshot was replaced.
  void settings_changed();

  const std::vector<std::string>& subscribed() const { return subscribe_; }
  // Shard's bookkeeping: where this session sits in the shard's list for
  // subscribed()[i], so removal is O(1) (swap with the last, pop).
  std::vector<std::uint32_t>& index_slots() { return index_slots_; }

 private:
  enum class State { handshake, replaying, open, closing, finished };

  struct Outbound {
    MessagePtr message;  // shared frame, or
    std::string own;     // a frame or response built for this session only
    std::string_view bytes() const { return message ? message->frame() : std::string_view(own); }
  };

  // handshake (ws_session_handshake.cpp); on_replay, on_publish_refused: ws_session.cpp
  void on_request(error_code ec);
  void route();
  void on_authorized(AuthDecision decision);
  AuthRequest auth_request(std::string_view facility, Flags flags);
  void serve_demo_page();
  void respond(int status, std::string_view reason, std::string_view body,
               std::string_view extra_headers = {});
  void open_websocket(const std::string& subprotocol);
  void on_replay(std::vector<std::optional<std::string>> values);
  void on_publish_refused();

  // reading
  void do_read();
  void on_readable(error_code ec);

  // FrameSink
  void on_message(bool binary, std::string_view payload) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;
  void on_protocol_error(std::uint16_t code, std::string_view reason) override;

  // writing
  void push(Outbound item);
  void push_own(std::string frame);
  void on_writable(error_code ec);
  bool suppressed(const Message& message);
  void suppress(std::uint64_t hash);
  // ws_session_limits.cpp: the outbound limits and the publish rate.
  // False (and the session closing with 1013) when `bytes` more would pass
  // max_queue_bytes and the facility's policy is `close`, or nothing can be
  // dropped to make room. `incoming` is the data message asking, if any;
  // `incoming_is_newest` is false for a replayed value, which is older than
  // the live messages held in `pending_`.
  bool admit(std::size_t bytes, const Message* incoming = nullptr, bool incoming_is_newest = true);
  // Drops queued data messages by `policy` until `need` bytes are free (or
  // nothing more may go). Returns the bytes freed.
  std::size_t make_room(std::size_t need, SlowConsumerPolicy policy, const Message* incoming,
                        bool incoming_is_newest);
  SlowConsumerPolicy policy() const;
  void close_slow_consumer(std::string_view which_limit, std::size_t limit);
  // Starts the soft-limit clock when the queue passes soft_queue_bytes.
  void note_queue_growth();
  void check_soft_limit(clock::time_point now);
  // False when the client is over publish_rate (the session is closing).
  bool within_publish_rate();
  bool queue_message(const MessagePtr& message, bool newest = true);

  void start_close(std::uint16_t code, std::string_view reason, bool drop_queued = false);
  void linger();
  void finish(std::string_view why);
  void do_finish();

  Shard& shard_;
  tcp::socket socket_;
  std::uint64_t id_;
  State state_ = State::handshake;

  std::unique_ptr<HttpRequestReader> request_;  // handshake only

  Target target_;
  std::string client_;  // the client address for logs (X-Forwarded-For behind trusted proxies)
  Flags flags_ = 0;
  std::vector<std::string> subscribe_;
  std::vector<std::string> publish_;
  std::vector<std::uint32_t> index_slots_;
  std::unique_ptr<FrameParser> parser_;

  std::vector<Outbound> queue_;
  std::size_t queue_head_ = 0;       // first entry not fully written
  std::size_t head_offset_ = 0;      // bytes of queue_[queue_head_] already written
  std::size_t queued_bytes_ = 0;     // unwritten bytes in queue_
  std::vector<MessagePtr> pending_;  // live messages held back during the replay
  std::size_t pending_bytes_ = 0;
  bool waiting_writable_ = false;
  bool flush_scheduled_ = false;
  bool reading_ = false;
  bool close_after_write_ = false;  // plain HTTP answers and echoed close frames
  bool head_only_ = false;          // a HEAD request: answers carry no body
  bool peer_closed_ = false;
  bool finish_posted_ = false;
  bool lingering_ = false;   // everything written, FIN sent, discarding input
  bool holds_slot_ = false;  // counted in connections_open (max_connections)

  // What this session published without echo, by Message::hash, to drop
  // once when the backend hands it back. Bounded; entries expire.
  struct Suppression {
    std::uint64_t hash;
    clock::time_point until;
  };
  std::vector<Suppression> suppressions_;
  // Per replayed channel: drop the next live message if it is the replayed
  // value again (an application that SETs before it PUBLISHes).
  struct ReplayGuard {
    std::string channel;
    std::uint64_t hash;
    clock::time_point until;
  };
  std::vector<ReplayGuard> replay_guards_;

  TokenBucket publish_bucket_;
  // Since when the queue has been over soft_queue_bytes without a break.
  std::optional<clock::time_point> over_soft_since_;

  clock::time_point deadline_;  // handshake or close deadline
  clock::time_point last_read_;
  clock::time_point last_data_;  // last data frame (message or heartbeat) queued
  clock::time_point last_ping_;
};

}  // namespace wsrelay
