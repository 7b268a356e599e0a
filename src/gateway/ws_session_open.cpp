// WsSession's opening: the 101 written only once every channel is confirmed
// ("open means subscribed", docs/protocol.md), the heartbeat at open, and
// the replay of stored last messages or of history before live messages,
// and the access lines of the handshake and the close.
#include <wsrelay/gateway/ws_session.hpp>

#include <algorithm>

#include <spdlog/spdlog.h>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/log.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/http_answer.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {

void WsSession::start() {
  if (subscribe_.empty()) return open_websocket();
  // Registered with the shard first: its shard_subscribed is posted to the
  // hub before the open below, from this thread, so the hub sees the shard
  // in each channel's list before it confirms (docs/architecture.md,
  // "Threads", ordering 1).
  shard_.subscribe(this, subscribe_);
  std::weak_ptr<WsSession> weak = weak_from_this();
  std::shared_ptr<ChannelTable::HistoryOpen> history;
  if (positions_) {
    history = std::make_shared<ChannelTable::HistoryOpen>();
    history->since = opening_->since;
    history->limit = opening_->history_entries;
    history->ttl_seconds = opening_->history_ttl_seconds;
    history->done = [weak](std::optional<HistoryReplay> replay) {
      if (auto self = weak.lock()) self->on_history_replay(std::move(replay));
    };
  }
  shard_.hub().open(
      shard_.index(), subscribe_, weak,
      [weak] {
        if (auto self = weak.lock()) self->on_confirmed();
      },
      [weak](std::vector<std::optional<std::string>> values) {
        if (auto self = weak.lock()) self->on_replay(std::move(values));
      },
      std::move(history));
}

void WsSession::on_confirmed() {
  WSRELAY_ASSERT_ON(shard_.context().get_executor());
  if (state_ != State::subscribing) return;
  state_ = State::replaying;
  open_websocket();
}

void WsSession::open_websocket() {
  if (state_ == State::subscribing) {
    state_ = State::open;  // nothing to replay
    filter_.replay_done();
  }
  const auto now = shard_.now();
  last_read_ = last_data_ = last_ping_ = now;
  const std::unique_ptr<Opening> opening = std::move(opening_);
  response_bytes_ = opening->response.size();
  push_own(std::move(opening->response));
  opened_ = clock::now();
  handshake_done(101, "open");
  if (state_ == State::open) heartbeat_at_open();
  spdlog::debug("session {}: open /{} from {} flags={} subscribe={} publish={}", id_, facility_,
                client_, flags_to_string(flags_), subscribe_.size(), publish_.size());
  bytes_in_ += opening->early.size();
  if (!opening->early.empty() && !parser_.feed(opening->early, *this)) return;
  do_read();
}

// ws4redis sent a heartbeat as soon as a connection was open (after the
// stored messages), and ws4redis.js counts the heartbeats it missed across
// a reconnect: without this one, a page that waited out an outage of a few
// heartbeat intervals would close its own new connection once.
void WsSession::heartbeat_at_open() {
  const Config& config = shard_.config();
  if (config.heartbeat.empty()) return;
  last_data_ = shard_.now();
  push_own(make_frame(Opcode::text, config.heartbeat));
}

void WsSession::refuse_upgrade(int status, std::string_view reason) {
  spdlog::debug("session {}: /{} from {} not opened, HTTP {}: {}", id_, facility_, client_, status,
                reason);
  handshake_done(status, reason);
  // Given back before the answer is written: a client that reads it and
  // retries at once must find the slot free.
  slot_.reset();
  queue_.clear_held();
  state_ = State::closing;
  deadline_ = shard_.now() + std::chrono::seconds(shard_.config().close_timeout_seconds);
  close_after_write_ = true;
  push_own(format_http_answer(status, std::string(reason) + "\n"));
}

void WsSession::handshake_done(int status, std::string_view reason) {
  const auto now = clock::now();
  Metrics& metrics = shard_.metrics();
  metrics.handshake_duration.observe(shard_.index(), now - accepted_);
  if (status != 101) metrics.count_refusal(status);
  if (!shard_.config().log_access) return;
  AccessLine line(log_format(), "handshake");
  line.number("session", id_)
      .word("client", client_)
      .text("facility", facility_)
      .text("user", user_)
      .word("flags", flags_to_string(flags_))
      .number("status", static_cast<std::uint64_t>(status))
      .text("reason", reason)
      .seconds("duration", now - accepted_);
  log_access(line);
}

void WsSession::note_close(CloseCause cause, std::uint16_t code) {
  if (close_noted_ || opened_ == clock::time_point{}) return;
  close_noted_ = true;
  close_cause_ = cause;
  close_code_ = code;
  shard_.metrics().count_close(cause);
}

void WsSession::log_close() {
  if (opened_ == clock::time_point{} || !shard_.config().log_access) return;
  AccessLine line(log_format(), "close");
  line.number("session", id_)
      .word("client", client_)
      .text("facility", facility_)
      .text("user", user_)
      .number("code", close_code_)
      .word("reason", to_string(close_cause_))
      .seconds("duration", clock::now() - opened_)
      .number("messages_out", messages_out_)
      .number("bytes_out", bytes_out_ > response_bytes_ ? bytes_out_ - response_bytes_ : 0)
      .number("messages_in", messages_in_)
      .number("bytes_in", bytes_in_);
  log_access(line);
}

// The hub posted `confirmed`, then every live message for this shard, then
// this, through the shard's queue: whatever live message is held now was
// published before or during the read of the stored values, and nothing
// older can follow (docs/architecture.md, "Threads", ordering 2 and 3).
void WsSession::on_replay(std::vector<std::optional<std::string>> values) {
  WSRELAY_ASSERT_ON(shard_.context().get_executor());
  if (state_ != State::replaying) return;
  Metrics& metrics = shard_.metrics();
  const auto now = shard_.now();
  for (std::size_t i = 0; i < values.size() && i < subscribe_.size(); ++i) {
    if (!values[i]) continue;
    auto message = Message::make(subscribe_[i], *values[i]);
    if (!filter_.pass_replayed(*message, queue_.held(), now)) continue;
    metrics.last_messages_replayed.fetch_add(1, std::memory_order_relaxed);
    if (!queue_message(message, false)) return;  // closing: nothing may follow the close frame
  }
  replay_done(now);
}

// As on_replay, from the channels' history (docs/history.md, "Resume"). The
// read happened at one instant after every channel was confirmed: a held
// live message at or below its watermark is in the replay (or older than
// the client's position) and is dropped; every later one follows it.
void WsSession::on_history_replay(std::optional<HistoryReplay> replay) {
  WSRELAY_ASSERT_ON(shard_.context().get_executor());
  if (state_ != State::replaying) return;
  if (!replay)
    return start_close(CloseCause::backend_unavailable, close_reason::history_interrupted);
  Metrics& metrics = shard_.metrics();
  const auto now = shard_.now();
  if (replay->reset) {
    metrics.history_resets.fetch_add(1, std::memory_order_relaxed);
    std::string notice = make_frame(Opcode::text, history_reset_notice);
    if (!admit(notice.size())) return;
    push_own(std::move(notice));
  }
  for (const HistoryEntry& entry : replay->entries) {
    if (entry.channel >= subscribe_.size()) continue;
    const std::string& channel = subscribe_[entry.channel];
    if (!filter_.pass_history(Message::hash_of(channel, entry.message), now)) continue;
    std::string envelope = to_string(entry.id);
    envelope += ' ';
    envelope += entry.message;
    metrics.history_replayed.fetch_add(1, std::memory_order_relaxed);
    if (!queue_message(Message::make(channel, envelope), false)) return;
  }
  queue_.drop_held_through(replay->watermark);
  replay_done(now);
}

void WsSession::replay_done(clock::time_point now) {
  Metrics& metrics = shard_.metrics();
  state_ = State::open;
  filter_.replay_done();
  heartbeat_at_open();
  const std::size_t delivered = queue_.held().size();
  messages_out_ += delivered;
  queue_.release_held();
  metrics.messages_delivered.fetch_add(delivered, std::memory_order_relaxed);
  if (delivered > 0) {
    last_data_ = now;
    schedule_flush();
  }
}

}  // namespace wsrelay
