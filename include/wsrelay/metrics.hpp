#pragma once
// Process-wide counters and gauges, rendered in the Prometheus text format.
// Every field is a relaxed atomic: incrementing one on the hot path is one
// uncontended instruction, no allocation, no lock.
#include <atomic>
#include <cstdint>
#include <string>

namespace wsrelay {

class Metrics {
 public:
  using counter = std::atomic<std::uint64_t>;
  using gauge = std::atomic<std::int64_t>;

  // connections
  counter connections_accepted{0};
  counter handshakes_rejected{0};                // any non-101 answer on a WebSocket path
  counter connections_over_limit{0};             // 503 at the handshake (max_connections)
  counter connections_refused_no_descriptor{0};  // answered at once: out of file descriptors
  counter handshakes_origin_refused{0};          // 403: Origin not in auth.allowed_origins
  gauge connections_open{0};        // Admission's slots: WebSockets and handshakes being authorized
  gauge handshakes_in_progress{0};  // Admission's handshakes: reading a request or authorized
  counter handshakes_over_limit{0};       // 503 at accept: server.max_handshakes in progress
  counter handshakes_address_limited{0};  // 429: over a per-client-address limit
  counter closed_slow_consumer{0};        // 1013, queue over max_queue_bytes (or the soft limit)
  counter closed_rate_limited{0};         // 1008, over publish_rate
  counter closed_idle{0};
  counter closed_protocol_error{0};  // 1002 / 1007 / 1008 / 1009 sent by us

  // messages
  counter messages_from_redis{0};       // payloads received by the subscriber
  counter messages_delivered{0};        // frames queued to sessions
  counter messages_published{0};        // client messages accepted for PUBLISH
  counter messages_publish_dropped{0};  // not accepted: pending queue full
  counter messages_oversized{0};        // from the backend, over redis.max_message_bytes: dropped
  counter last_messages_replayed{0};
  counter last_messages_resent{0};  // stored values that changed during a Redis outage
  counter heartbeats_answered{0};
  counter messages_dropped_slow_consumer{0};  // by drop-oldest / keep-latest policies

  // configuration
  counter config_reloads{0};          // SIGHUP reloads applied
  counter config_reload_failures{0};  // SIGHUP reloads rejected (the old config kept)

  // redis
  gauge redis_subscriber_up{0};
  gauge redis_command_up{0};
  counter redis_reconnects{0};
  counter redis_subscribe_refused{0};  // SUBSCRIBE refused (ACL); its sessions closed with 1008
  counter redis_publish_refused{0};    // client publish refused (ACL); its sender closed with 1008
  gauge redis_channels{0};             // channels the subscriber is subscribed to
  gauge redis_pending_messages{0};
  counter redis_messages_dropped{0};  // subscriber hand-off over redis.subscriber_backlog_bytes
  gauge redis_subscriber_backlog_bytes{0};  // read from Redis, not yet delivered

  // auth.callback_url
  counter auth_callback_requests{0};            // requests sent to the site
  counter auth_callback_failures{0};            // handshakes refused with 503: no usable answer
  counter auth_callback_cache_hits{0};          // answered from auth.callback_cache_seconds
  counter auth_callback_connections_opened{0};  // TCP connections opened to the site
  gauge auth_callback_pending{0};               // handshakes waiting for a free connection

  std::string render_prometheus() const;
};

}  // namespace wsrelay
