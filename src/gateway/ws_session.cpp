// WsSession: reading and answering the client's frames, the writes of the
// outbound queue, the deadlines of tick(), and the close. The opening (the
// 101 once subscribed, the replay of last messages and of history) is in
// ws_session_open.cpp; the queue limits and the publish rate in
// ws_session_limits.cpp; the HTTP side (request, routing, authorization) is
// HttpSession.
#include <wsrelay/gateway/ws_session.hpp>

#include <algorithm>
#include <array>
#include <span>

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/log.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/http_answer.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {

namespace {

constexpr std::size_t max_write_buffers = 64;

}  // namespace

WsSession::WsSession(Shard& shard, tcp::socket socket, WsUpgrade upgrade)
    : shard_(shard),
      socket_(std::move(socket)),
      id_(upgrade.id),
      flags_(upgrade.flags),
      facility_(std::move(upgrade.facility)),
      client_(std::move(upgrade.client)),
      user_(std::move(upgrade.user)),
      subscribe_(std::move(upgrade.subscribe)),
      publish_(std::move(upgrade.publish)),
      opening_(std::make_unique<Opening>(
          Opening{std::move(upgrade.response), std::move(upgrade.early), upgrade.since,
                  upgrade.history_entries, upgrade.history_ttl_seconds})),
      parser_(shard.config().max_message_bytes),
      slot_(std::move(upgrade.slot)),
      address_(std::move(upgrade.address)),
      accepted_(upgrade.accepted),
      deadline_(upgrade.deadline) {
  positions_ = upgrade.positions;
  settings_changed();
}

WsSession::~WsSession() = default;

void WsSession::do_read() {
  if (reading_ || state_ == State::finished) return;
  reading_ = true;
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](error_code ec) { self->on_readable(ec); });
}

void WsSession::on_readable(error_code ec) {
  reading_ = false;
  if (state_ == State::finished) return;
  if (ec) return finish("read wait failed");
  if (!socket_.non_blocking()) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
  }
  // Drain what the socket has, into the shard's scratch buffer; a bounded
  // number of reads per wake-up keeps one busy client from starving others.
  for (int round = 0; round < 4; ++round) {
    std::size_t n =
        socket_.read_some(net::buffer(shard_.read_buffer(), Shard::read_buffer_size), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) break;
    if (ec) return finish(ec == net::error::eof ? "peer closed the connection" : "read failed");
    last_read_ = shard_.now();
    bytes_in_ += n;
    if (lingering_) continue;  // after our last write: read and discard
    if (!parser_.feed(std::string_view(shard_.read_buffer(), n), *this)) return;
    if (state_ == State::finished) return;
    if (n < Shard::read_buffer_size) break;
  }
  do_read();
}

void WsSession::on_message(bool binary, std::string_view payload) {
  if (state_ != State::open && state_ != State::replaying) return;
  ++messages_in_;
  if (!within_publish_rate()) return;
  if (answer_heartbeat(binary, payload)) return;
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  if (publish_.empty()) {
    return start_close(CloseCause::protocol_error, close_reason::publish_not_allowed);
  }
  for (const auto& channel : publish_) {
    if (!(flags_ & echo) &&
        std::find(subscribe_.begin(), subscribe_.end(), channel) != subscribe_.end()) {
      filter_.published(Message::hash_of(channel, payload), shard_.now());
    }
    shard_.hub().publish(channel, std::string(payload), config.expire_seconds,
                         [weak = weak_from_this(), &shard = shard_](const PublishRefusal& why) {
                           net::post(shard.context(), [weak, why] {
                             if (auto self = weak.lock()) self->on_publish_refused(why);
                           });
                         });
  }
  metrics.messages_published.fetch_add(1, std::memory_order_relaxed);
}

bool WsSession::answer_heartbeat(bool binary, std::string_view payload) {
  const Config& config = shard_.config();
  if (config.heartbeat.empty() || binary || payload != config.heartbeat) return false;
  shard_.metrics().heartbeats_answered.fetch_add(1, std::memory_order_relaxed);
  queue_own_text(config.heartbeat);
  return true;
}

bool WsSession::queue_own_text(std::string_view text) {
  last_data_ = shard_.now();
  std::string frame = make_frame(Opcode::text, text);
  if (!admit(frame.size())) return false;
  push_own(std::move(frame));
  return true;
}

void WsSession::on_publish_refused(const PublishRefusal& why) {
  // Counted and logged by the engine. Closing tells the client that its
  // message was not published, instead of losing more.
  if (why.kind == PublishRefusal::Kind::refused) {
    // Redis will refuse the next one too (an ACL without the channel), as
    // it refuses a subscription.
    return start_close(CloseCause::publish_refused, why.error.starts_with("NOPERM")
                                                        ? close_reason::publish_refused_noperm
                                                        : close_reason::publish_refused);
  }
  // The backend's queue is full (Redis down or behind): try again later.
  start_close(CloseCause::backend_unavailable, close_reason::publish_dropped);
}

void WsSession::on_ping(std::string_view payload) {
  // Nothing may follow our close frame; and a pong counts against the queue
  // limit like anything else, or a ping flood from a client that never reads
  // would grow without bound.
  if (state_ != State::open && state_ != State::replaying) return;
  std::string frame = make_frame(Opcode::pong, payload);
  if (admit(frame.size())) push_own(std::move(frame));
}

void WsSession::on_pong(std::string_view) {}

void WsSession::on_close(std::uint16_t code, std::string_view) {
  peer_closed_ = true;
  if (state_ == State::closing) {
    if (!queue_.has_unwritten()) return finish("close handshake complete");
    close_after_write_ = true;
    return;
  }
  // Answer with the peer's code (1000 when it sent none) and close after it.
  start_close(CloseCause::client, code == 1005 ? close_code::normal : code, {});
  close_after_write_ = true;
}

void WsSession::on_protocol_error(std::uint16_t code, std::string_view reason) {
  spdlog::debug("session {}: protocol error {}: {}", id_, code, reason);
  start_close(CloseCause::protocol_error, code, reason);
  close_after_write_ = true;
}

bool WsSession::enqueue(const MessagePtr& incoming) {
  if (state_ == State::closing || state_ == State::finished) return false;
  // A client with positions gets the envelope form, and only messages that
  // have one (never a resync's plain stored value).
  if (positions_ && !incoming->positioned()) return false;
  const MessagePtr& message = positions_ ? incoming->positioned() : incoming;
  if (!filter_.pass_live(*message, shard_.now())) return false;
  if (state_ != State::open) {
    if (!admit(message->frame().size(), message.get())) return false;
    queue_.hold(message);
    note_queue_growth();
    return false;
  }
  return queue_message(message);
}

bool WsSession::queue_message(const MessagePtr& message, bool newest) {
  if (!admit(message->frame().size(), message.get(), newest)) return false;
  last_data_ = shard_.now();
  ++messages_out_;
  if (oldest_unwritten_ == clock::time_point{}) oldest_unwritten_ = message->received();
  queue_.push(message);
  note_queue_growth();
  schedule_flush();
  return true;
}

void WsSession::push_own(std::string frame) {
  if (state_ == State::finished) return;
  queue_.push_own(std::move(frame));
  note_queue_growth();
  schedule_flush();
}

void WsSession::schedule_flush() {
  if (flush_scheduled_ || waiting_writable_) return;
  flush_scheduled_ = true;
  shard_.schedule_flush(this);
}

void WsSession::flush(clock::time_point now) {
  flush_scheduled_ = false;
  if (state_ == State::finished || waiting_writable_) return;
  if (!socket_.non_blocking()) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
  }
  std::array<std::string_view, max_write_buffers> views;
  std::array<net::const_buffer, max_write_buffers> buffers;
  while (queue_.has_unwritten()) {
    const std::size_t count = queue_.gather(views);
    for (std::size_t i = 0; i < count; ++i)
      buffers[i] = net::buffer(views[i].data(), views[i].size());
    error_code ec;
    const std::size_t written =
        socket_.write_some(std::span<const net::const_buffer>(buffers.data(), count), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      waiting_writable_ = true;
      socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](error_code wait_ec) {
        self->on_writable(wait_ec);
      });
      return;
    }
    if (ec) return finish("write failed");
    bytes_out_ += written;
    queue_.consume(written, shard_.config().soft_queue_bytes);
  }
  // Once per write batch, for its oldest message: not per frame.
  if (oldest_unwritten_ != clock::time_point{}) {
    shard_.metrics().delivery_latency.observe(shard_.index(), now - oldest_unwritten_);
    oldest_unwritten_ = {};
  }
  if (close_after_write_) linger();
}

void WsSession::linger() {
  if (peer_closed_) return finish("closed");
  // Closing a socket that still has unread input sends a reset, and the
  // peer's stack may then drop our close frame or HTTP answer unread (a
  // client still sending an oversized message hits exactly this). So: send
  // FIN, read and discard until the peer closes too, or the close deadline.
  if (lingering_) return;
  lingering_ = true;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  do_read();
}

void WsSession::on_writable(error_code ec) {
  waiting_writable_ = false;
  if (state_ == State::finished) return;
  if (ec) return finish("write wait failed");
  flush(clock::now());
}

void WsSession::tick(clock::time_point now) {
  const Config& config = shard_.config();
  switch (state_) {
    case State::subscribing:
      if (now >= deadline_)
        refuse_upgrade(503, "backend unavailable: the subscription was not confirmed in time");
      return;
    case State::closing:
      if (now >= deadline_) finish("close timeout");
      return;
    case State::finished:
      return;
    case State::replaying:
    case State::open:
      break;
  }
  filter_.expire(now);
  if (const std::size_t released = queue_.trim(now)) shard_.note_released(released);
  if (now - last_read_ >= OutboundQueue::idle_release) parser_.trim();
  // A drop policy keeps a client over the soft limit open: its backlog is
  // bounded by the hard limit, and what it reads is as current as it can be.
  if (queue_.soft_limit_passed(now, limits()) && policy_ == SlowConsumerPolicy::close)
    return close_slow_consumer("soft_queue_bytes", config.soft_queue_bytes);
  if (now - last_read_ >= std::chrono::seconds(config.idle_timeout_seconds)) {
    return start_close(CloseCause::idle, close_reason::idle_timeout);
  }
  if (now - last_ping_ >= std::chrono::seconds(config.ping_interval_seconds)) {
    last_ping_ = now;
    push_own(make_frame(Opcode::ping, {}));
  }
  // "At least every heartbeat_interval_seconds": send one tick early rather
  // than one tick late.
  if (state_ == State::open && !config.heartbeat.empty() &&
      now - last_data_ + Shard::tick_period >=
          std::chrono::seconds(config.heartbeat_interval_seconds)) {
    last_data_ = now;
    push_own(make_frame(Opcode::text, config.heartbeat));
  }
}

void WsSession::go_away() {
  if (state_ == State::subscribing) return refuse_upgrade(503, "server shutting down");
  if (state_ == State::replaying || state_ == State::open)
    start_close(CloseCause::shutdown, close_reason::shutting_down);
}

void WsSession::interrupt_history(const std::vector<std::string>& channels) {
  if (!positions_ || (state_ != State::replaying && state_ != State::open)) return;
  const bool mine = channels.empty() || std::any_of(channels.begin(), channels.end(), [&](auto& c) {
                      return std::find(subscribe_.begin(), subscribe_.end(), c) != subscribe_.end();
                    });
  if (mine) start_close(CloseCause::backend_unavailable, close_reason::history_interrupted);
}

void WsSession::close_refused(std::string_view reason) {
  if (state_ == State::subscribing) return refuse_upgrade(403, reason);
  if (state_ != State::replaying && state_ != State::open) return;
  // Every session of a refused channel closes at once, and clients can open
  // more: one line a second (wsrelay_redis_subscribe_refused_total counts).
  static SharedRateLimitedLog log;
  if (std::uint64_t suppressed = 0; log.should_log(suppressed))
    spdlog::info("session {}: closed with 1008: {} ({} more such closes since the previous line)",
                 id_, printable(reason), suppressed);
  start_close(CloseCause::subscribe_refused, close_code::policy, reason);
}

void WsSession::start_close(CloseCause cause, std::uint16_t code, std::string_view reason,
                            bool drop_queued) {
  if (state_ == State::closing || state_ == State::finished) return;
  // No close frame before the 101: a session that has to go then (a burst
  // past its queue limit while it waits) gets an HTTP answer instead.
  if (state_ == State::subscribing) return refuse_upgrade(503, reason);
  note_close(cause, code);
  if (drop_queued) queue_.drop_unwritten();
  queue_.clear_held();
  state_ = State::closing;
  deadline_ = shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds);
  push_own(make_close_frame(code, reason));
}

void WsSession::finish(std::string_view why) {
  if (finish_posted_ || state_ == State::finished) return;
  finish_posted_ = true;
  spdlog::debug("session {}: finish ({})", id_, why);
  note_close(CloseCause::connection_lost, 1006);
  // Posted, so that the shard's index is never changed while it is walked.
  net::post(shard_.context(), [self = shared_from_this()] { self->do_finish(); });
}

void WsSession::do_finish() {
  if (state_ == State::finished) return;
  state_ = State::finished;
  log_close();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  queue_ = OutboundQueue();
  slot_.reset();
  address_.reset();
  shard_.remove(this);
}

}  // namespace wsrelay
