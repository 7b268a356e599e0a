// RedisConnection's implementation, shared by the three files that define
// it: redis_connection.cpp (the attempt's life: start, stop, failure,
// backoff, following a new master), redis_connection_connect.cpp (resolve,
// connect, the handshake, asking a sentinel) and redis_connection_io.cpp
// (reads, writes, replies and pushes, health checks). Private to backend/.
#pragma once

#include <array>
#include <deque>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/wire/resp_size_gate.hpp>

namespace wsrelay {

using generic_stream = net::generic::stream_protocol;
using TlsStream = net::ssl::stream<generic_stream::socket&>;

// Every asynchronous handler holds the Impl through shared_from_this() and
// carries the generation of the attempt that started it: fail() and stop()
// bump the generation, so a completion from a closed attempt (typically
// operation_aborted) is recognised and ignored instead of being taken for
// an error of the current one.
class RedisConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(net::any_io_executor executor, RedisConnectionOptions options);
  void start(StateHandler on_state, PushHandler on_push);
  void stop();
  bool up() const { return state_ == State::up; }
  HostPort node() const {
    if (state_ != State::up) return {};
    return HostPort{target_.is_unix ? target_.path : target_.host, target_.port};
  }
  std::uint64_t reconnects() const { return reconnects_; }

  bool send(const std::vector<std::string_view>& args, ReplyCallback callback);
  void follow_master(const HostPort& address);

 private:
  enum class State { idle, connecting, up, backoff, stopped };
  // Sentinel endpoints: asking a sentinel where the master is, or connected
  // (connecting) to the node itself. Always `node` without sentinels.
  enum class Phase { ask_sentinel, node };

  // Connecting (redis_connection_connect.cpp).
  // Where this attempt connects, with the credentials and db it uses there.
  RedisEndpoint target() const;
  void do_connect();
  void on_resolve(error_code ec, std::uint64_t gen, tcp::resolver::results_type results);
  void on_connect(error_code ec, std::uint64_t gen);
  void start_tls();
  // AUTH, SELECT, ROLE (sentinel endpoints) and PING are pipelined; the
  // link is up when the last reply is in. Asking a sentinel, the one command
  // is SENTINEL get-master-addr-by-name.
  void do_handshake();
  void ask_sentinel();

  // The attempt's life (redis_connection.cpp).
  // A new attempt at once, on a fresh socket (the next step of discovery).
  void restart();
  void become_up();
  // `ec` may be empty when `what` says it all.
  void fail(error_code ec, const std::string& what);
  void close_transport();
  // Why jitter: when Redis restarts, every gateway process loses it at the
  // same instant; random delays spread their reconnects (and SUBSCRIBE
  // replays) instead of hitting the new server in one wave. The delay is
  // uniform in [min, min * 2^(failures - 1)], capped at max.
  void schedule_reconnect();

  // Reading, writing, health checks (redis_connection_io.cpp).
  void do_read();
  void on_read(error_code ec, std::size_t n, std::uint64_t gen);
  void deliver(RespValue&& reply);
  void append(const std::vector<std::string_view>& args);
  void enqueue(const std::vector<std::string_view>& args, ReplyCallback callback);
  // One write in flight; what is sent meanwhile accumulates in out_ and goes
  // in the next write. writing_ is released only by the write's own
  // completion, even when a newer attempt has begun, because until then the
  // operation may still refer to it.
  void do_write();
  void on_write(error_code ec, std::uint64_t gen);
  // Why: a Redis that stops answering (SIGSTOP, a dead host, a silent
  // middlebox) keeps a TCP connection open and gives no error; only the lack
  // of replies tells. Any byte read counts as a sign of life, so a busy link
  // is never pinged.
  void arm_health_check();
  void on_health_tick();

  static constexpr std::size_t kKeepBufferBytes = 1 << 20;
  static constexpr std::size_t kFeedSlice = 16 * 1024;  // see on_read

  net::any_io_executor executor_;
  RedisConnectionOptions options_;
  std::optional<SentinelDiscovery> discovery_;
  Phase phase_ = Phase::node;
  HostPort master_;       // sentinel endpoints: the address the last sentinel gave
  std::size_t seed_ = 0;  // cluster endpoints: the seed this attempt connects to
  RedisEndpoint target_;  // where the current attempt connects
  generic_stream::socket socket_;
  // rediss://: the TLS layer over socket_ for the current attempt. Every
  // operation on it holds a reference, so an attempt that failed releases
  // it only once its last completion has run.
  std::shared_ptr<TlsStream> tls_;
  tcp::resolver resolver_;
  net::steady_timer connect_timer_;
  net::steady_timer retry_timer_;
  net::steady_timer health_timer_;
  RespReader reader_;
  std::optional<RespSizeGate> gate_;
  std::vector<std::string_view> pieces_;
  // One read takes up to this much: after a pause, a backlog is drained in
  // few wake-ups.
  std::array<char, 256 * 1024> read_buffer_{};
  std::string out_;
  std::string writing_;
  bool write_in_flight_ = false;
  std::deque<ReplyCallback> callbacks_;
  std::size_t handshake_pending_ = 0;
  State state_ = State::idle;
  std::uint64_t generation_ = 0;
  unsigned failures_in_row_ = 0;
  bool ever_up_ = false;
  std::uint64_t reconnects_ = 0;
  bool read_since_tick_ = false;
  bool health_ping_outstanding_ = false;
  std::minstd_rand rng_;
  StateHandler on_state_;
  PushHandler on_push_;
};

}  // namespace wsrelay
