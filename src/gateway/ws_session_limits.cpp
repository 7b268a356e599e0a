// WsSession's limits: the outbound queue's (OutboundQueue, with the
// slow-consumer policy of the facility) and the publish rate.
//
// Why two byte limits (as Redis's client-output-buffer-limit): the hard
// limit bounds memory at once, whatever happens; the soft limit catches a
// client that keeps a large backlog for long, the sign of a reader that will
// never catch up, without evicting one that lags for a moment (a burst, a
// stalled tab, a mobile radio waking up).
//
// Why drop policies: for a price feed, a scoreboard or a position stream,
// old values are worthless once a newer one exists. Closing such a client
// makes it reconnect into the same backlog; dropping what is stale keeps it
// current. What is delivered stays in order: drops only remove entries,
// never reorder them, and never touch a frame partly written, a control
// frame or the close frame.
#include <wsrelay/gateway/ws_session.hpp>

#include <algorithm>

#include <spdlog/spdlog.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>

namespace wsrelay {

OutboundQueue::Limits WsSession::limits() const {
  const Config& config = shard_.config();
  return OutboundQueue::Limits{config.max_queue_bytes, config.soft_queue_bytes,
                               std::chrono::seconds(config.soft_queue_seconds), policy_};
}

bool WsSession::admit(std::size_t bytes, const Message* incoming, bool incoming_is_newest) {
  const OutboundQueue::Limits limits = this->limits();
  const auto admission = queue_.admit(bytes, incoming, incoming_is_newest, limits);
  if (admission.dropped > 0) {
    shard_.count_dropped(id_, admission.dropped);
    spdlog::debug("session {}: {} dropped {} queued messages ({} bytes)", id_,
                  to_string(limits.policy), admission.dropped, admission.freed);
  }
  if (admission.admitted) return true;
  close_slow_consumer("max_queue_bytes", limits.max_bytes);
  return false;
}

void WsSession::close_slow_consumer(std::string_view which_limit, std::size_t limit) {
  // Clients decide how often this happens: one line a second for the whole
  // process and limit, with the count of the others
  // (wsrelay_sessions_closed_total{reason="slow_consumer"} has them all). The hard and the soft
  // limit are apart, so the first close by each is always seen.
  static SharedRateLimitedLog hard_log;
  static SharedRateLimitedLog soft_log;
  SharedRateLimitedLog& log = which_limit == "soft_queue_bytes" ? soft_log : hard_log;
  if (std::uint64_t suppressed = 0; log.should_log(suppressed))
    spdlog::warn(
        "session {}: closed with 1013, slow consumer ({} bytes waiting, {} {}); {} more such "
        "closes since the previous line",
        id_, queue_.waiting_bytes(), which_limit, limit, suppressed);
  start_close(CloseCause::slow_consumer, close_reason::slow_consumer, true);
}

void WsSession::note_queue_growth() {
  // The real time, not the shard's tick time: that one can be 250 ms old,
  // and the soft limit must never close a client before its time.
  queue_.note_growth(shard_.config().soft_queue_bytes, [] { return clock::now(); });
}

bool WsSession::take_rate_token() {
  const Config& config = shard_.config();
  return config.publish_rate == 0 ||
         publish_bucket_.take(clock::now(), config.publish_rate, config.publish_burst);
}

bool WsSession::within_publish_rate() {
  if (take_rate_token()) return true;
  const Config& config = shard_.config();
  static SharedRateLimitedLog log;  // as for slow consumers
  if (std::uint64_t suppressed = 0; log.should_log(suppressed))
    spdlog::info(
        "session {}: closed with 1008, over publish_rate ({}/s, burst {}); {} more such closes "
        "since the previous line",
        id_, config.publish_rate, config.publish_burst, suppressed);
  start_close(CloseCause::rate_limited, close_reason::publish_rate);
  return false;
}

void WsSession::settings_changed() {
  const Config& config = shard_.config();
  parser_.set_max_message_bytes(config.max_message_bytes);
  // Looked up once per configuration, not per message: the rules are globs.
  policy_ = policy_for(config.slow_consumer_rules, facility_);
}

}  // namespace wsrelay
