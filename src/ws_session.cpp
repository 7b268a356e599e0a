// WsSession after the upgrade: the replay of last messages, reading and
// answering the client's frames, the outbound queue and its writes, the
// deadlines of tick(), and the close. The HTTP side (request, routing,
// authorization, the 101) is in ws_session_handshake.cpp; the queue limits
// and the publish rate are in ws_session_limits.cpp.
#include <wsrelay/ws_session.hpp>

#include <algorithm>
#include <array>
#include <span>

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>

#include <wsrelay/config.hpp>
#include <wsrelay/hub.hpp>
#include <wsrelay/metrics.hpp>
#include <wsrelay/shard.hpp>

namespace wsrelay {

namespace {

// Own publishes waiting to come back from the backend, for echo suppression.
// A client with more than this in flight sees the oldest come back.
constexpr std::size_t max_suppressions = 1024;
// An own publish that has not come back by then was lost (pending queue full,
// link down): its entry must not swallow someone else's identical message.
constexpr std::chrono::seconds own_publish_lifetime{30};
// How long a replayed value guards against its own live copy: an application
// that SETs before it PUBLISHes sends that copy right after the read.
constexpr std::chrono::seconds replay_guard_lifetime{1};
// Queue slots already written are reclaimed once they are this many and
// half the vector, so a reader that stays a little behind does not grow it.
constexpr std::size_t compact_after = 64;
constexpr std::size_t max_write_buffers = 64;

}  // namespace

void WsSession::on_replay(std::vector<std::optional<std::string>> values) {
  if (state_ != State::replaying) return;
  Metrics& metrics = shard_.metrics();
  for (std::size_t i = 0; i < values.size() && i < subscribe_.size(); ++i) {
    if (!values[i]) continue;
    const std::string& channel = subscribe_[i];
    // A live message equal to the stored one, received while the stored one
    // was being read, is that same publish: deliver it once, in live order.
    bool live_copy = std::any_of(pending_.begin(), pending_.end(), [&](const MessagePtr& m) {
      return m->channel() == channel && m->payload() == *values[i];
    });
    if (live_copy) continue;
    metrics.last_messages_replayed.fetch_add(1, std::memory_order_relaxed);
    auto message = Message::make(channel, *values[i]);
    if (!queue_message(message, false)) return;  // closing: nothing may follow the close frame
    replay_guards_.push_back(
        ReplayGuard{channel, message->hash(), shard_.now() + replay_guard_lifetime});
  }
  state_ = State::open;
  auto pending = std::move(pending_);
  pending_.clear();
  pending_bytes_ = 0;
  std::uint64_t delivered = 0;
  for (auto& message : pending) {
    if (!queue_message(message)) break;
    ++delivered;
  }
  metrics.messages_delivered.fetch_add(delivered, std::memory_order_relaxed);
}

void WsSession::do_read() {
  if (reading_ || state_ == State::finished) return;
  if (state_ == State::handshake && !lingering_) return;
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
    if (lingering_) continue;  // after our last write: read and discard
    if (!parser_->feed(std::string_view(shard_.read_buffer(), n), *this)) return;
    if (state_ == State::finished) return;
    if (n < Shard::read_buffer_size) break;
  }
  do_read();
}

void WsSession::on_message(bool binary, std::string_view payload) {
  if (state_ != State::open && state_ != State::replaying) return;
  if (!within_publish_rate()) return;
  const Config& config = shard_.config();
  Metrics& metrics = shard_.metrics();
  if (!config.heartbeat.empty() && !binary && payload == config.heartbeat) {
    metrics.heartbeats_answered.fetch_add(1, std::memory_order_relaxed);
    last_data_ = shard_.now();
    std::string frame = make_frame(Opcode::text, config.heartbeat);
    if (admit(frame.size())) push_own(std::move(frame));
    return;
  }
  if (publish_.empty()) {
    metrics.closed_protocol_error.fetch_add(1, std::memory_order_relaxed);
    return start_close(close_code::policy, "publishing is not allowed on this connection");
  }
  for (const auto& channel : publish_) {
    if (!(flags_ & echo) &&
        std::find(subscribe_.begin(), subscribe_.end(), channel) != subscribe_.end()) {
      suppress(Message::hash_of(channel, payload));
    }
    shard_.hub().publish(channel, std::string(payload), config.expire_seconds,
                         [weak = weak_from_this(), &shard = shard_] {
                           net::post(shard.context(), [weak] {
                             if (auto self = weak.lock()) self->on_publish_refused();
                           });
                         });
  }
  metrics.messages_published.fetch_add(1, std::memory_order_relaxed);
}

void WsSession::on_publish_refused() {
  // The backend's pending queue is full (Redis down or behind): this
  // client's message was dropped (counted and logged by the engine). Closing
  // with "try again later" tells the client so, instead of losing more.
  start_close(close_code::try_again_later, "backend unavailable, publish dropped");
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
    if (queued_bytes_ == 0) return finish("close handshake complete");
    close_after_write_ = true;
    return;
  }
  // Answer with the peer's code (1000 when it sent none) and close after it.
  start_close(code == 1005 ? close_code::normal : code, {});
  close_after_write_ = true;
}

void WsSession::on_protocol_error(std::uint16_t code, std::string_view reason) {
  shard_.metrics().closed_protocol_error.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("session {}: protocol error {}: {}", id_, code, reason);
  start_close(code, reason);
  close_after_write_ = true;
}

bool WsSession::enqueue(const MessagePtr& message) {
  if (state_ == State::replaying) {
    if (suppressed(*message)) return false;
    if (!admit(message->frame().size(), message.get())) return false;
    pending_bytes_ += message->frame().size();
    pending_.push_back(message);
    note_queue_growth();
    return false;
  }
  if (state_ != State::open) return false;
  if (suppressed(*message)) return false;
  if (!replay_guards_.empty()) {
    auto guard =
        std::find_if(replay_guards_.begin(), replay_guards_.end(),
                     [&](const ReplayGuard& g) { return g.channel == message->channel(); });
    if (guard != replay_guards_.end()) {
      // Only the next message on the channel can be the replayed value's own
      // live copy; anything else ends the guard.
      bool copy = guard->hash == message->hash() && shard_.now() < guard->until;
      replay_guards_.erase(guard);
      if (copy) return false;
    }
  }
  return queue_message(message);
}

void WsSession::suppress(std::uint64_t hash) {
  if (suppressions_.size() >= max_suppressions) suppressions_.erase(suppressions_.begin());
  suppressions_.push_back(Suppression{hash, shard_.now() + own_publish_lifetime});
}

bool WsSession::suppressed(const Message& message) {
  if (suppressions_.empty()) return false;
  auto now = shard_.now();
  auto it = std::find_if(suppressions_.begin(), suppressions_.end(), [&](const Suppression& s) {
    return s.hash == message.hash() && s.until > now;
  });
  if (it == suppressions_.end()) return false;
  suppressions_.erase(it);
  return true;
}

bool WsSession::queue_message(const MessagePtr& message, bool newest) {
  if (!admit(message->frame().size(), message.get(), newest)) return false;
  last_data_ = shard_.now();
  push(Outbound{message, {}});
  return true;
}

void WsSession::push_own(std::string frame) {
  push(Outbound{nullptr, std::move(frame)});
}

void WsSession::push(Outbound item) {
  if (state_ == State::finished) return;
  queued_bytes_ += item.bytes().size();
  queue_.push_back(std::move(item));
  note_queue_growth();
  if (!flush_scheduled_ && !waiting_writable_) {
    flush_scheduled_ = true;
    shard_.schedule_flush(this);
  }
}

void WsSession::flush() {
  flush_scheduled_ = false;
  if (state_ == State::finished || waiting_writable_) return;
  if (!socket_.non_blocking()) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
  }
  std::array<net::const_buffer, max_write_buffers> buffers;
  while (queue_head_ < queue_.size()) {
    std::size_t count = 0;
    for (std::size_t i = queue_head_; i < queue_.size() && count < buffers.size(); ++i) {
      std::string_view bytes = queue_[i].bytes();
      if (i == queue_head_) bytes.remove_prefix(head_offset_);
      buffers[count++] = net::buffer(bytes.data(), bytes.size());
    }
    error_code ec;
    std::size_t written =
        socket_.write_some(std::span<const net::const_buffer>(buffers.data(), count), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      waiting_writable_ = true;
      socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](error_code wait_ec) {
        self->on_writable(wait_ec);
      });
      return;
    }
    if (ec) return finish("write failed");
    queued_bytes_ -= written;
    while (written > 0) {
      std::size_t left = queue_[queue_head_].bytes().size() - head_offset_;
      if (written < left) {
        head_offset_ += written;
        break;
      }
      written -= left;
      queue_[queue_head_] = Outbound{};
      ++queue_head_;
      head_offset_ = 0;
    }
    if (over_soft_since_ && queued_bytes_ + pending_bytes_ <= shard_.config().soft_queue_bytes)
      over_soft_since_.reset();
    if (queue_head_ >= compact_after && queue_head_ * 2 >= queue_.size()) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }
  queue_.clear();
  queue_head_ = 0;
  if (queue_.capacity() > 64) std::vector<Outbound>().swap(queue_);
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
  flush();
}

void WsSession::tick(clock::time_point now) {
  const Config& config = shard_.config();
  switch (state_) {
    case State::handshake:
    case State::closing:
      if (now >= deadline_)
        finish(state_ == State::handshake ? "handshake timeout" : "close timeout");
      return;
    case State::finished:
      return;
    case State::replaying:
    case State::open:
      break;
  }
  if (!suppressions_.empty())
    std::erase_if(suppressions_, [&](const Suppression& s) { return s.until <= now; });
  if (!replay_guards_.empty())
    std::erase_if(replay_guards_, [&](const ReplayGuard& g) { return g.until <= now; });
  check_soft_limit(now);
  if (state_ == State::closing) return;
  if (now - last_read_ >= std::chrono::seconds(config.idle_timeout_seconds)) {
    shard_.metrics().closed_idle.fetch_add(1, std::memory_order_relaxed);
    return start_close(close_code::going_away, "idle timeout");
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
  // A request still on its way gets close_timeout_seconds more, then is
  // answered 503 (route() checks the shard's shutdown) or dropped.
  if (state_ == State::handshake) {
    // Waiting on the authorizer (the slot is taken only then): no answer it
    // gives could open a WebSocket now, so do not wait for it.
    if (holds_slot_) return respond(503, "shutting down", "server shutting down\n");
    deadline_ = std::min(
        deadline_, shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds));
    return;
  }
  if (state_ == State::replaying || state_ == State::open)
    start_close(close_code::going_away, "server shutting down");
}

void WsSession::close_refused(std::string_view reason) {
  if (state_ != State::replaying && state_ != State::open) return;
  spdlog::info("session {}: closed with 1008: {}", id_, reason);
  start_close(close_code::policy, reason);
}

void WsSession::start_close(std::uint16_t code, std::string_view reason, bool drop_queued) {
  if (state_ == State::closing || state_ == State::finished) return;
  if (drop_queued) {
    // Keep a partly written frame (the stream must stay well-formed); the
    // rest is released now, which is the point of closing a slow consumer.
    std::size_t keep = queue_head_ + (head_offset_ > 0 ? 1 : 0);
    for (std::size_t i = keep; i < queue_.size(); ++i) queued_bytes_ -= queue_[i].bytes().size();
    queue_.resize(std::max(keep, queue_head_));
  }
  pending_.clear();
  pending_bytes_ = 0;
  state_ = State::closing;
  deadline_ = shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds);
  push_own(make_close_frame(code, reason));
}

void WsSession::finish(std::string_view why) {
  if (finish_posted_ || state_ == State::finished) return;
  finish_posted_ = true;
  spdlog::debug("session {}: finish ({})", id_, why);
  // Posted, so that the shard's index is never changed while it is walked.
  net::post(shard_.context(), [self = shared_from_this()] { self->do_finish(); });
}

void WsSession::do_finish() {
  if (state_ == State::finished) return;
  state_ = State::finished;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  queue_.clear();
  pending_.clear();
  if (holds_slot_) shard_.metrics().connections_open.fetch_sub(1, std::memory_order_relaxed);
  shard_.remove(this);
}

}  // namespace wsrelay
