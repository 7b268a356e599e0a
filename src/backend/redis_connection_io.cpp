// The bytes of a Redis connection: one write in flight with the rest
// batched behind it, replies matched to their callbacks, pushes classified
// for the subscriber, and the health-check PING of a silent link.
#include <wsrelay/backend/redis_connection_impl.hpp>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <utility>

namespace wsrelay {
namespace {

// The argument of our own health-check PINGs on a subscriber connection, so
// their pongs are told apart from the engine's barrier PINGs (which have none).
constexpr std::string_view kHealthToken = "wsrelay-health";

}  // namespace

bool RedisConnection::Impl::send(const std::vector<std::string_view>& args,
                                 ReplyCallback callback) {
  if (state_ != State::up) return false;
  append(args);
  if (!options_.subscriber) callbacks_.push_back(std::move(callback));
  do_write();
  return true;
}

void RedisConnection::Impl::do_read() {
  if (tls_) {
    tls_->async_read_some(net::buffer(read_buffer_),
                          [self = shared_from_this(), gen = generation_, tls = tls_](
                              error_code ec, std::size_t n) { self->on_read(ec, n, gen); });
    return;
  }
  socket_.async_read_some(net::buffer(read_buffer_),
                          [self = shared_from_this(), gen = generation_](
                              error_code ec, std::size_t n) { self->on_read(ec, n, gen); });
}

void RedisConnection::Impl::on_read(error_code ec, std::size_t n, std::uint64_t gen) {
  if (gen != generation_) return;
  if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
    return fail(ec, "connection closed by the server");
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

void RedisConnection::Impl::deliver(RespValue&& reply) {
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

void RedisConnection::Impl::append(const std::vector<std::string_view>& args) {
  if (out_.empty()) {
    out_ = format_command(args);
  } else {
    out_ += format_command(args);
  }
}

void RedisConnection::Impl::enqueue(const std::vector<std::string_view>& args,
                                    ReplyCallback callback) {
  append(args);
  callbacks_.push_back(std::move(callback));
}

void RedisConnection::Impl::do_write() {
  if (write_in_flight_ || out_.empty()) return;
  if (state_ != State::connecting && state_ != State::up) return;
  std::swap(out_, writing_);
  write_in_flight_ = true;
  if (tls_) {
    net::async_write(*tls_, net::buffer(writing_),
                     [self = shared_from_this(), gen = generation_, tls = tls_](
                         error_code ec, std::size_t) { self->on_write(ec, gen); });
    return;
  }
  net::async_write(socket_, net::buffer(writing_),
                   [self = shared_from_this(), gen = generation_](error_code ec, std::size_t) {
                     self->on_write(ec, gen);
                   });
}

void RedisConnection::Impl::on_write(error_code ec, std::uint64_t gen) {
  write_in_flight_ = false;
  writing_.clear();
  if (writing_.capacity() > kKeepBufferBytes) std::string().swap(writing_);
  if (gen != generation_) return do_write();
  if (ec) return fail(ec, "write");
  do_write();
}

void RedisConnection::Impl::arm_health_check() {
  if (options_.health_check_interval.count() <= 0) return;
  health_timer_.expires_after(options_.health_check_interval);
  health_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
    if (ec || gen != self->generation_ || self->state_ != State::up) return;
    self->on_health_tick();
  });
}

void RedisConnection::Impl::on_health_tick() {
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

}  // namespace wsrelay
