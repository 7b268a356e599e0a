// The life of a Redis connection: start and stop, each attempt's failure
// and the backoff before the next, becoming up, and following a master that
// Sentinel moved. Connecting is in redis_connection_connect.cpp, the bytes
// in redis_connection_io.cpp; the class is redis_connection_impl.hpp.
#include <wsrelay/backend/redis_connection_impl.hpp>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace wsrelay {

RedisConnection::Impl::Impl(net::any_io_executor executor, RedisConnectionOptions options)
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

void RedisConnection::Impl::start(StateHandler on_state, PushHandler on_push) {
  if (state_ != State::idle) return;
  on_state_ = std::move(on_state);
  on_push_ = std::move(on_push);
  do_connect();
}

void RedisConnection::Impl::stop() {
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

void RedisConnection::Impl::follow_master(const HostPort& address) {
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

void RedisConnection::Impl::restart() {
  ++generation_;
  close_transport();
  callbacks_.clear();
  do_connect();
}

void RedisConnection::Impl::become_up() {
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

void RedisConnection::Impl::fail(error_code ec, const std::string& what) {
  if (state_ != State::connecting && state_ != State::up) return;
  const bool was_up = state_ == State::up;
  std::string reason = ec ? what + ": " + ec.message() : what;
  if (options_.endpoint.is_cluster()) {
    ++seed_;  // the next seed next time
  } else if (discovery_ && options_.sentinel_watch) {
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

void RedisConnection::Impl::close_transport() {
  error_code ignored;
  resolver_.cancel();
  socket_.close(ignored);
  tls_.reset();
  connect_timer_.cancel();
  health_timer_.cancel();
}

void RedisConnection::Impl::schedule_reconnect() {
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
