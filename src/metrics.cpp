#include <wsrelay/metrics.hpp>

#include <fmt/format.h>

namespace wsrelay {
namespace {

template <class T>
void line(std::string& out, const char* name, const char* type, const char* help, const T& v) {
  out += fmt::format("# HELP wsrelay_{} {}\n# TYPE wsrelay_{} {}\nwsrelay_{} {}\n", name, help,
                     name, type, name, v.load(std::memory_order_relaxed));
}

}  // namespace

std::string Metrics::render_prometheus() const {
  std::string out;
  out.reserve(4096);
  line(out, "connections_accepted_total", "counter", "TCP connections accepted.",
       connections_accepted);
  line(out, "handshakes_rejected_total", "counter",
       "Requests on the WebSocket path answered without an upgrade.", handshakes_rejected);
  line(out, "connections_over_limit_total", "counter",
       "Handshakes refused with 503 because max_connections was reached.", connections_over_limit);
  line(out, "connections_refused_no_descriptor_total", "counter",
       "Connections answered 503 (or 200 for /healthz) and closed at once because the process "
       "had no file descriptor left.",
       connections_refused_no_descriptor);
  line(out, "handshakes_origin_refused_total", "counter",
       "Handshakes refused with 403 because the Origin is not allowed.", handshakes_origin_refused);
  line(out, "connections_open", "gauge",
       "Open WebSocket sessions, and handshakes being authorized.", connections_open);
  line(out, "handshakes_in_progress", "gauge",
       "Accepted connections reading their request or being authorized (not yet WebSockets, "
       "nor answered); a scrape counts itself.",
       handshakes_in_progress);
  line(out, "handshakes_over_limit_total", "counter",
       "Connections answered 503 at accept because server.max_handshakes were in progress.",
       handshakes_over_limit);
  line(out, "handshakes_address_limited_total", "counter",
       "Connections refused with 429 by a per-client-address limit (open connections or new "
       "connections per second).",
       handshakes_address_limited);
  line(out, "closed_slow_consumer_total", "counter",
       "Sessions closed with 1013 because their queue passed max_queue_bytes, or stayed over "
       "soft_queue_bytes for soft_queue_seconds.",
       closed_slow_consumer);
  line(out, "closed_rate_limited_total", "counter",
       "Sessions closed with 1008 because they sent faster than publish_rate.",
       closed_rate_limited);
  line(out, "closed_idle_total", "counter", "Sessions closed after idle_timeout_seconds.",
       closed_idle);
  line(out, "closed_protocol_error_total", "counter",
       "Sessions closed for a protocol or policy violation (1002/1007/1008/1009).",
       closed_protocol_error);
  line(out, "messages_from_redis_total", "counter", "Messages received from the backend.",
       messages_from_redis);
  line(out, "messages_delivered_total", "counter", "Frames queued to WebSocket sessions.",
       messages_delivered);
  line(out, "messages_published_total", "counter", "Client messages accepted for PUBLISH.",
       messages_published);
  line(out, "messages_publish_dropped_total", "counter",
       "Client messages refused because the pending queue was full.", messages_publish_dropped);
  line(out, "messages_oversized_total", "counter",
       "Messages (or stored last messages) from the backend over redis.max_message_bytes, "
       "dropped: never delivered, not even in part.",
       messages_oversized);
  line(out, "last_messages_replayed_total", "counter",
       "Stored last messages sent to sessions when they opened.", last_messages_replayed);
  line(out, "last_messages_resent_total", "counter",
       "Stored last messages re-sent after a Redis outage because they changed.",
       last_messages_resent);
  line(out, "heartbeats_answered_total", "counter", "Application heartbeats answered.",
       heartbeats_answered);
  line(out, "messages_dropped_slow_consumer_total", "counter",
       "Messages dropped from slow sessions' queues by a drop-oldest or keep-latest policy.",
       messages_dropped_slow_consumer);
  line(out, "config_reloads_total", "counter", "Configuration reloads (SIGHUP) applied.",
       config_reloads);
  line(out, "config_reload_failures_total", "counter",
       "Configuration reloads (SIGHUP) rejected; the running configuration was kept.",
       config_reload_failures);
  line(out, "redis_subscriber_up", "gauge", "1 when the subscriber connection is up.",
       redis_subscriber_up);
  line(out, "redis_command_up", "gauge", "1 when the command connection is up.", redis_command_up);
  line(out, "redis_reconnects_total", "counter", "Redis connections re-established.",
       redis_reconnects);
  line(out, "redis_subscribe_refused_total", "counter",
       "SUBSCRIBEs refused by Redis (ACL); their handshakes refused with 403, or their open "
       "sessions closed with 1008.",
       redis_subscribe_refused);
  line(out, "redis_publish_refused_total", "counter",
       "Client publishes Redis refused (ACL); their senders were closed with 1008.",
       redis_publish_refused);
  line(out, "redis_channels", "gauge", "Channels the subscriber is subscribed to.", redis_channels);
  line(out, "redis_pending_messages", "gauge", "Client publishes waiting for Redis.",
       redis_pending_messages);
  line(out, "redis_messages_dropped_total", "counter",
       "Messages read from Redis and dropped: the hand-off to the hub was over "
       "redis.subscriber_backlog_bytes.",
       redis_messages_dropped);
  line(out, "redis_subscriber_backlog_bytes", "gauge",
       "Message bytes read from Redis and not yet delivered by every shard.",
       redis_subscriber_backlog_bytes);
  line(out, "auth_callback_requests_total", "counter",
       "Authorization requests sent to auth.callback_url.", auth_callback_requests);
  line(out, "auth_callback_failures_total", "counter",
       "Handshakes refused with 503 because the authorization callback gave no usable answer.",
       auth_callback_failures);
  line(out, "auth_callback_cache_hits_total", "counter",
       "Handshakes decided from the authorization callback's cache.", auth_callback_cache_hits);
  line(out, "auth_callback_connections_opened_total", "counter",
       "TCP connections opened to the authorization callback.", auth_callback_connections_opened);
  line(out, "auth_callback_pending", "gauge",
       "Handshakes waiting for a free connection to the authorization callback.",
       auth_callback_pending);
  return out;
}

}  // namespace wsrelay
