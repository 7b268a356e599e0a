#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/wire/resp_size_gate.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <fstream>
#include <optional>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

namespace wsrelay {
namespace {

using generic_stream = net::generic::stream_protocol;

// The argument of our own health-check PINGs on a subscriber connection, so
// their pongs are told apart from the engine's barrier PINGs (which have none).
constexpr std::string_view kHealthToken = "wsrelay-health";

// The subscriber's SO_RCVBUF: 8 MiB, or what net.core.rmem_max allows if
// that is at least 4 MiB; 0 (leave it to autotuning) below that.
int subscriber_receive_buffer() {
  static const int bytes = [] {
    constexpr long long kWanted = 8 << 20;
    long long max = 0;
    std::ifstream("/proc/sys/net/core/rmem_max") >> max;
    if (max < kWanted / 2) return 0;
    return static_cast<int>(std::min(max, kWanted));
  }();
  return bytes;
}

}  // namespace

// Every asynchronous handler holds the Impl through shared_from_this() and
// carries the generation of the attempt that started it: fail() and stop()
// bump the generation, so a completion from a closed attempt (typically
// operation_aborted) is recognised and ignored instead of being taken for
// an error of the current one.
class RedisConnection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(net::any_io_executor executor, RedisConnectionOptions options)
      : executor_(executor),
        options_(std::move(options)),
        socket_(executor),
        resolver_(executor),
        connect_timer_(executor),
        retry_timer_(executor),
        health_timer_(executor),
        rng_(std::random_device{}()) {
    if (options_.endpoint.is_sentinel())
      discovery_.emplace(options_.endpoint.sentinels, options_.endpoint.master_name);
    phase_ = discovery_ && !options_.sentinel_watch ? Phase::ask_sentinel : Phase::node;
  }

  void start(StateHandler on_state, PushHandler on_push) {
    if (state_ != State::idle) return;
    on_state_ = std::move(on_state);
    on_push_ = std::move(on_push);
    do_connect();
  }

  void stop() {
    if (state_ == State::stopped) return;
    state_ = State::stopped;
    ++generation_;
    close_transport();
    retry_timer_.cancel();
    out_.clear();
    auto pending = std::exchange(callbacks_, {});
    if (!pending.empty()) {
      net::post(executor_, [pending = std::move(pending)]() {
        for (const auto& callback : pending) {
          if (callback) callback(nullptr);
        }
      });
    }
  }

  bool up() const { return state_ == State::up; }
  HostPort node() const {
    if (state_ != State::up) return {};
    return HostPort{target_.is_unix ? target_.path : target_.host, target_.port};
  }
  std::uint64_t reconnects() const { return reconnects_; }

  bool send(const std::vector<std::string_view>& args, ReplyCallback callback) {
    if (state_ != State::up) return false;
    append(args);
    if (!options_.subscriber) callbacks_.push_back(std::move(callback));
    do_write();
    return true;
  }

  void follow_master(const HostPort& address) {
    if (!discovery_ || options_.sentinel_watch) return;
    if (state_ == State::idle || state_ == State::stopped) return;
    const bool on_a_node =
        state_ == State::up || (state_ == State::connecting && phase_ == Phase::node);
    if (on_a_node && master_ == address) return;
    if (on_a_node) fail({}, "the master moved to " + describe_host_port(address));
    // Asking a sentinel, or waiting to: go straight to the new address.
    phase_ = Phase::node;
    master_ = address;
    retry_timer_.cancel();
    restart();
  }

 private:
  enum class State { idle, connecting, up, backoff, stopped };
  // Sentinel endpoints: asking a sentinel where the master is, or connected
  // (connecting) to the node itself. Always `node` without sentinels.
  enum class Phase { ask_sentinel, node };

  // Where this attempt connects, with the credentials and db it uses there.
  RedisEndpoint target() const {
    if (!discovery_) return options_.endpoint;
    RedisEndpoint target;
    if (phase_ == Phase::ask_sentinel || options_.sentinel_watch) {
      target.host = discovery_->current().host;
      target.port = discovery_->current().port;
      return target;
    }
    target = options_.endpoint;
    target.sentinels.clear();
    target.host = master_.host;
    target.port = master_.port;
    return target;
  }

  void do_connect() {
    state_ = State::connecting;
    ++generation_;
    reader_ = RespReader();
    if (options_.subscriber && options_.max_message_bytes > 0)
      gate_.emplace(options_.max_message_bytes);
    callbacks_.clear();
    out_.clear();
    handshake_pending_ = 0;
    target_ = target();

    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
      if (ec || gen != self->generation_ || self->state_ != State::connecting) return;
      self->fail(net::error::timed_out, "connect to " + describe_redis_endpoint(self->target_));
    });

    const RedisEndpoint& endpoint = target_;
    if (endpoint.is_unix) {
      generic_stream::endpoint peer;
      try {
        peer = generic_stream::endpoint(net::local::stream_protocol::endpoint(endpoint.path));
      } catch (const std::exception&) {
        return fail(net::error::invalid_argument, "unix socket path " + endpoint.path);
      }
      socket_.async_connect(peer, [self = shared_from_this(), gen = generation_](error_code ec) {
        self->on_connect(ec, gen);
      });
      return;
    }
    resolver_.async_resolve(endpoint.host, std::to_string(endpoint.port),
                            [self = shared_from_this(), gen = generation_](
                                error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, gen, std::move(results));
                            });
  }

  void on_resolve(error_code ec, std::uint64_t gen, tcp::resolver::results_type results) {
    if (gen != generation_) return;
    if (ec) return fail(ec, "resolve " + target_.host);
    std::vector<generic_stream::endpoint> peers;
    for (const auto& entry : results) peers.emplace_back(entry.endpoint());
    net::async_connect(
        socket_, peers,
        [self = shared_from_this(), gen](error_code ec, const generic_stream::endpoint&) {
          self->on_connect(ec, gen);
        });
  }

  void on_connect(error_code ec, std::uint64_t gen) {
    if (gen != generation_) return;
    if (ec) return fail(ec, "connect to " + describe_redis_endpoint(target_));
    if (!target_.is_unix) {
      error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      socket_.set_option(net::socket_base::keep_alive(true), ignored);
    }
    if (options_.subscriber && !options_.sentinel_watch) {
      // Why: Redis disconnects a pub/sub client whose output buffer passes
      // client-output-buffer-limit, and that buffer only grows once our
      // receive window is full. A large window from the start absorbs a
      // burst while the link thread waits for a core; autotuning starts at
      // tcp_rmem's default and grows it only after the burst began
      // (measured: a 30 MiB burst at a 1 MB limit on a loaded 2-core
      // machine passed 8 of 8 runs with it, 7 of 8 without). But a set
      // SO_RCVBUF also turns autotuning off and is capped by
      // net.core.rmem_max (208 KiB by default), so it is set only where
      // that cap lets it be large.
      if (const int bytes = subscriber_receive_buffer(); bytes > 0) {
        error_code ignored;
        socket_.set_option(net::socket_base::receive_buffer_size(bytes), ignored);
      }
    }
    do_read();
    do_handshake();
  }

  // AUTH, SELECT, ROLE (sentinel endpoints) and PING are pipelined; the
  // link is up when the last reply is in. Asking a sentinel, the one command
  // is SENTINEL get-master-addr-by-name.
  void do_handshake() {
    if (phase_ == Phase::ask_sentinel) return ask_sentinel();
    const RedisEndpoint& endpoint = target_;
    auto on_reply = [weak = weak_from_this()](std::string what) {
      return [weak, what = std::move(what)](const RespValue* reply) {
        auto self = weak.lock();
        if (!self || reply == nullptr) return;
        if (reply->is_error()) {
          return self->fail(make_error_code(boost::system::errc::permission_denied),
                            what + " refused: " + reply->str);
        }
        if (--self->handshake_pending_ == 0) self->become_up();
      };
    };
    if (!endpoint.password.empty()) {
      if (endpoint.user.empty()) {
        enqueue({"AUTH", endpoint.password}, on_reply("AUTH"));
      } else {
        enqueue({"AUTH", endpoint.user, endpoint.password}, on_reply("AUTH " + endpoint.user));
      }
      ++handshake_pending_;
    }
    if (endpoint.db != 0) {
      const std::string db = std::to_string(endpoint.db);
      enqueue({"SELECT", db}, on_reply("SELECT " + db));
      ++handshake_pending_;
    }
    if (discovery_ && !options_.sentinel_watch) {
      enqueue({"ROLE"}, [weak = weak_from_this()](const RespValue* reply) {
        auto self = weak.lock();
        if (!self || reply == nullptr) return;
        const RoleReply role = read_role_reply(*reply);
        if (!role.is_master)
          return self->fail(
              {}, describe_redis_endpoint(self->target_) + " is not the master: " + role.reason);
        if (--self->handshake_pending_ == 0) self->become_up();
      });
      ++handshake_pending_;
    }
    // A connect that succeeds proves only that the kernel accepted it (a
    // stopped Redis still completes the TCP handshake); up means Redis answered.
    enqueue({"PING"}, on_reply("PING"));
    ++handshake_pending_;
    do_write();
  }

  void ask_sentinel() {
    const auto command = discovery_->command();
    enqueue(std::vector<std::string_view>(command.begin(), command.end()),
            [weak = weak_from_this()](const RespValue* reply) {
              auto self = weak.lock();
              if (!self || reply == nullptr) return;
              const MasterAddressReply answer = read_master_address_reply(*reply);
              if (answer.kind == MasterAddressReply::Kind::unknown_name)
                return self->fail({}, "does not know that master");
              if (answer.kind == MasterAddressReply::Kind::failed)
                return self->fail({}, answer.reason);
              self->discovery_->answered();
              self->master_ = answer.address;
              self->phase_ = Phase::node;
              self->restart();
            });
    do_write();
  }

  // A new attempt at once, on a fresh socket (the next step of discovery).
  void restart() {
    ++generation_;
    close_transport();
    callbacks_.clear();
    do_connect();
  }

  void become_up() {
    state_ = State::up;
    connect_timer_.cancel();
    if (ever_up_) ++reconnects_;
    ever_up_ = true;
    spdlog::info("redis {}: connected to {} {}{}", options_.name, describe_redis_endpoint(target_),
                 options_.sentinel_watch ? std::string("(sentinel)")
                 : discovery_ ? fmt::format("db {} (master \"{}\", its role checked)", target_.db,
                                            discovery_->master_name())
                              : fmt::format("db {}", target_.db),
                 failures_in_row_ > 0 ? fmt::format(" after {} failed attempt(s)", failures_in_row_)
                                      : std::string());
    failures_in_row_ = 0;
    read_since_tick_ = false;
    health_ping_outstanding_ = false;
    arm_health_check();
    if (on_state_) on_state_(true);
  }

  void do_read() {
    socket_.async_read_some(net::buffer(read_buffer_),
                            [self = shared_from_this(), gen = generation_](
                                error_code ec, std::size_t n) { self->on_read(ec, n, gen); });
  }

  void on_read(error_code ec, std::size_t n, std::uint64_t gen) {
    if (gen != generation_) return;
    if (ec == net::error::eof) return fail(ec, "connection closed by the server");
    if (ec) return fail(ec, "read");
    read_since_tick_ = true;
    // Why slices: hiredis moves what is left of its buffer down after each
    // reply it returns, so one 256 KiB feed of 10 KiB messages was moved
    // about twelve times over. Fed a slice at a time, its buffer stays
    // near one slice and each byte is moved about once.
    for (std::size_t at = 0; at < n; at += kFeedSlice) {
      const std::string_view slice(read_buffer_.data() + at, std::min(kFeedSlice, n - at));
      if (gate_) {
        // Oversized payloads never reach the reader's buffer.
        pieces_.clear();
        gate_->feed(slice, pieces_);
        for (const auto piece : pieces_) reader_.feed(piece);
      } else {
        reader_.feed(slice);
      }
      while (auto reply = reader_.next()) {
        deliver(std::move(*reply));
        if (gen != generation_) return;  // a handler failed or stopped us
      }
      if (reader_.failed()) {
        return fail(make_error_code(boost::system::errc::protocol_error),
                    "protocol error: " + reader_.error());
      }
    }
    do_read();
  }

  void deliver(RespValue&& reply) {
    if (!callbacks_.empty()) {
      auto callback = std::move(callbacks_.front());
      callbacks_.pop_front();
      if (callback) callback(&reply);
      return;
    }
    if (options_.subscriber && state_ == State::up) {
      // Unsubscribed, PING <arg> answers with the bare argument.
      if (reply.type == RespValue::Type::string && reply.str == kHealthToken) return;
      Push push = classify_push(std::move(reply));
      // Subscribed, with ["pong", arg].
      if (push.kind == Push::Kind::pong && push.payload == kHealthToken) return;
      if (on_push_) on_push_(std::move(push));
      return;
    }
    fail(make_error_code(boost::system::errc::protocol_error), "reply without a command");
  }

  void append(const std::vector<std::string_view>& args) {
    if (out_.empty()) {
      out_ = format_command(args);
    } else {
      out_ += format_command(args);
    }
  }

  void enqueue(const std::vector<std::string_view>& args, ReplyCallback callback) {
    append(args);
    callbacks_.push_back(std::move(callback));
  }

  // One write in flight; what is sent meanwhile accumulates in out_ and goes
  // in the next write. writing_ is released only by the write's own
  // completion, even when a newer attempt has begun, because until then the
  // operation may still refer to it.
  void do_write() {
    if (write_in_flight_ || out_.empty()) return;
    if (state_ != State::connecting && state_ != State::up) return;
    std::swap(out_, writing_);
    write_in_flight_ = true;
    net::async_write(socket_, net::buffer(writing_),
                     [self = shared_from_this(), gen = generation_](error_code ec, std::size_t) {
                       self->on_write(ec, gen);
                     });
  }

  void on_write(error_code ec, std::uint64_t gen) {
    write_in_flight_ = false;
    writing_.clear();
    if (writing_.capacity() > kKeepBufferBytes) std::string().swap(writing_);
    if (gen != generation_) return do_write();
    if (ec) return fail(ec, "write");
    do_write();
  }

  // Why: a Redis that stops answering (SIGSTOP, a dead host, a silent
  // middlebox) keeps a TCP connection open and gives no error; only the lack
  // of replies tells. Any byte read counts as a sign of life, so a busy link
  // is never pinged.
  void arm_health_check() {
    if (options_.health_check_interval.count() <= 0) return;
    health_timer_.expires_after(options_.health_check_interval);
    health_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
      if (ec || gen != self->generation_ || self->state_ != State::up) return;
      self->on_health_tick();
    });
  }

  void on_health_tick() {
    if (read_since_tick_) {
      read_since_tick_ = false;
      health_ping_outstanding_ = false;
    } else if (health_ping_outstanding_) {
      return fail(net::error::timed_out, "no reply to the health-check PING");
    } else {
      if (options_.subscriber) {
        append({"PING", kHealthToken});
      } else {
        enqueue({"PING"}, {});
      }
      health_ping_outstanding_ = true;
      do_write();
    }
    arm_health_check();
  }

  // `ec` may be empty when `what` says it all.
  void fail(error_code ec, const std::string& what) {
    if (state_ != State::connecting && state_ != State::up) return;
    const bool was_up = state_ == State::up;
    std::string reason = ec ? what + ": " + ec.message() : what;
    if (discovery_ && options_.sentinel_watch) {
      discovery_->rotate();
    } else if (discovery_ && phase_ == Phase::ask_sentinel) {
      // The next sentinel at once; only a whole round that failed waits.
      // The summary names each sentinel once: "10.0.0.1:26379: connect: ...".
      std::string step = reason;
      if (const std::string where = " to " + describe_redis_endpoint(target_);
          step.find(where) != std::string::npos)
        step.erase(step.find(where), where.size());
      if (discovery_->failed(std::move(step))) return restart();
      reason = discovery_->round_summary();
    } else if (discovery_) {
      discovery_->master_unusable();
      phase_ = Phase::ask_sentinel;
    }
    ++failures_in_row_;
    // One line per outage at warn; the retries of the same outage at debug.
    if (was_up || failures_in_row_ == 1) {
      spdlog::warn("redis {}: {}; reconnecting", options_.name, reason);
    } else {
      spdlog::debug("redis {}: {} (attempt {})", options_.name, reason, failures_in_row_);
    }
    ++generation_;
    close_transport();
    state_ = State::backoff;
    out_.clear();
    handshake_pending_ = 0;
    auto pending = std::exchange(callbacks_, {});
    schedule_reconnect();
    for (const auto& callback : pending) {
      if (callback) callback(nullptr);
    }
    if (was_up && state_ != State::stopped && on_state_) on_state_(false);
  }

  void close_transport() {
    error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    connect_timer_.cancel();
    health_timer_.cancel();
  }

  // Why jitter: when Redis restarts, every gateway process loses it at the
  // same instant; random delays spread their reconnects (and SUBSCRIBE
  // replays) instead of hitting the new server in one wave. The delay is
  // uniform in [min, min * 2^(failures - 1)], capped at max.
  void schedule_reconnect() {
    const long long min = std::max<long long>(1, options_.reconnect_min.count());
    const long long max = std::max<long long>(min, options_.reconnect_max.count());
    long long ceiling = min;
    for (unsigned i = 1; i < failures_in_row_ && ceiling < max; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, max);
    const long long delay = std::uniform_int_distribution<long long>(min, ceiling)(rng_);
    retry_timer_.expires_after(std::chrono::milliseconds(delay));
    retry_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
      if (ec || gen != self->generation_ || self->state_ != State::backoff) return;
      self->do_connect();
    });
  }

  static constexpr std::size_t kKeepBufferBytes = 1 << 20;
  static constexpr std::size_t kFeedSlice = 16 * 1024;  // see on_read

  net::any_io_executor executor_;
  RedisConnectionOptions options_;
  std::optional<SentinelDiscovery> discovery_;
  Phase phase_ = Phase::node;
  HostPort master_;       // sentinel endpoints: the address the last sentinel gave
  RedisEndpoint target_;  // where the current attempt connects
  generic_stream::socket socket_;
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

RedisConnection::RedisConnection(net::any_io_executor executor, RedisConnectionOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

RedisConnection::~RedisConnection() {
  impl_->stop();
}

void RedisConnection::start(StateHandler on_state, PushHandler on_push) {
  impl_->start(std::move(on_state), std::move(on_push));
}

void RedisConnection::stop() {
  impl_->stop();
}

bool RedisConnection::up() const {
  return impl_->up();
}

HostPort RedisConnection::node() const {
  return impl_->node();
}

std::uint64_t RedisConnection::reconnects() const {
  return impl_->reconnects();
}

bool RedisConnection::send(const std::vector<std::string_view>& args, ReplyCallback callback) {
  return impl_->send(args, std::move(callback));
}

void RedisConnection::follow_master(const HostPort& address) {
  impl_->follow_master(address);
}

}  // namespace wsrelay
