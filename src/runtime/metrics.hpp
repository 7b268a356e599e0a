#pragma once
// Process-wide counters, gauges and histograms, rendered in the Prometheus
// text format from one table (metric_table(): name, type, help, where the
// value comes from), which docs/operations.md lists metric by metric (a
// unit test compares the two).
// Counters and gauges are relaxed atomics: incrementing one is one
// uncontended instruction, no allocation, no lock. Histograms keep a cell
// per writing thread (histogram.hpp).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <wsrelay/runtime/histogram.hpp>
#include <wsrelay/wire/command_channel.hpp>

namespace wsrelay {

// Why an opened WebSocket closed: the first cause, one per session
// (wsrelay_sessions_closed_total{reason}, and the access line's reason).
enum class CloseCause : std::uint8_t {
  client,               // the client sent a close frame first
  connection_lost,      // the connection failed or ended without a close handshake
  shutdown,             // 1001: the server is draining
  idle,                 // 1001: nothing read for idle_timeout_seconds
  slow_consumer,        // 1013: the outbound queue over its limits
  rate_limited,         // 1008: over publish_rate
  protocol_error,       // 1002 / 1007 / 1009, or 1008 for a publish without permission
  subscribe_refused,    // 1008: Redis refused a channel (ACL)
  publish_refused,      // 1008: Redis refused a publish (ACL)
  backend_unavailable,  // 1013: a publish dropped, the queue in front of Redis full
};
inline constexpr std::array<std::string_view, 10> kCloseCauseNames = {
    "client",          "connection_lost",    "shutdown",       "idle",
    "slow_consumer",   "rate_limited",       "protocol_error", "subscribe_refused",
    "publish_refused", "backend_unavailable"};
inline std::string_view to_string(CloseCause cause) {
  return kCloseCauseNames[static_cast<std::size_t>(cause)];
}

// The statuses a refusal can have (wsrelay_handshakes_refused_total{status});
// anything else counts as "other".
inline constexpr std::array<int, 7> kRefusalStatuses = {400, 401, 403, 426, 429, 431, 503};

class Metrics {
 public:
  using counter = std::atomic<std::uint64_t>;
  using gauge = std::atomic<std::int64_t>;

  // Shard threads, the listener: a refusal answered with `status`.
  void count_refusal(int status) {
    std::size_t i = 0;
    while (i < kRefusalStatuses.size() && kRefusalStatuses[i] != status) ++i;
    refused_by_status[i].fetch_add(1, std::memory_order_relaxed);
  }
  // Shard threads: a command of the command channel answered with `code`
  // (command_error; an unknown code counts under the last one).
  void count_command_refused(std::string_view code) {
    std::size_t i = 0;
    while (i + 1 < kCommandErrorCodes.size() && kCommandErrorCodes[i] != code) ++i;
    commands_refused_by_code[i].fetch_add(1, std::memory_order_relaxed);
  }
  void count_close(CloseCause cause) {
    closed_by_reason[static_cast<std::size_t>(cause)].fetch_add(1, std::memory_order_relaxed);
  }
  // Before any shard runs: one histogram cell per shard.
  void set_shards(std::size_t shards) {
    handshake_duration.set_cells(shards);
    delivery_latency.set_cells(shards);
  }

  // connections
  counter connections_accepted{0};
  // Any non-101 answer on a WebSocket path, and refusals at accept, by status
  // (kRefusalStatuses, then other).
  std::array<counter, kRefusalStatuses.size() + 1> refused_by_status{};
  std::array<counter, kCloseCauseNames.size()>
      closed_by_reason{};  // opened sessions, by CloseCause
  Histogram handshake_duration{
      kRequestBounds};  // accept to the 101 or the refusal; a cell per shard
  Histogram delivery_latency{kDeliveryBounds};   // Redis read to the socket write; a cell per shard
  counter connections_over_limit{0};             // 503 at the handshake (max_connections)
  counter connections_refused_no_descriptor{0};  // answered at once: out of file descriptors
  counter handshakes_origin_refused{0};          // 403: Origin not in auth.allowed_origins
  gauge connections_open{0};        // Admission's slots: WebSockets and handshakes being authorized
  gauge handshakes_in_progress{0};  // Admission's handshakes: reading a request or authorized
  counter handshakes_over_limit{0};       // 503 at accept: server.max_handshakes in progress
  counter handshakes_address_limited{0};  // 429: over a per-client-address limit

  // messages
  counter messages_from_redis{0};       // payloads received by the subscriber
  counter messages_delivered{0};        // frames queued to sessions
  counter messages_published{0};        // client messages accepted for PUBLISH
  counter messages_publish_dropped{0};  // not accepted: pending queue full
  counter api_publishes{0};             // POST /api/publish accepted
  counter api_publish_refused{0};       // POST /api/publish answered with an error
  counter messages_oversized{0};        // from the backend, over redis.max_message_bytes: dropped
  counter last_messages_replayed{0};
  counter history_replayed{0};      // history entries sent to resuming sessions
  counter history_resets{0};        // resumes whose position was no longer in the history
  counter last_messages_resent{0};  // stored values that changed during a Redis outage
  counter heartbeats_answered{0};
  // The command channel: commands Redis answered (its error replies
  // included), and answers with an error object, by code.
  counter commands_executed{0};
  std::array<counter, kCommandErrorCodes.size()> commands_refused_by_code{};
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
  // redis+cluster://: commands sent again after -MOVED, -ASK, -TRYAGAIN or -CLUSTERDOWN
  counter redis_cluster_redirects{0};

  // auth.callback_url
  counter auth_callback_requests{0};            // requests sent to the site
  counter auth_callback_failures{0};            // handshakes refused with 503: no usable answer
  counter auth_callback_cache_hits{0};          // answered from auth.callback_cache_seconds
  counter auth_callback_connections_opened{0};  // TCP connections opened to the site
  gauge auth_callback_pending{0};               // handshakes waiting for a free connection
  Histogram auth_callback_duration{kRequestBounds};  // the authorizer's thread: one cell

  std::string render_prometheus() const;
};

// Process figures read at each scrape (/proc; Linux).
struct ProcessStats {
  double open_fds = 0;
  double max_fds = 0;
  double resident_memory_bytes = 0;
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // since the Unix epoch
};
ProcessStats read_process_stats();

// One row per metric family of /metrics.
enum class MetricType { counter, gauge, histogram };
struct RefusalsByStatus {};
struct ClosesByReason {};
struct CommandsRefusedByCode {};
struct BuildInfo {};
using MetricSource = std::variant<Metrics::counter Metrics::*, Metrics::gauge Metrics::*,
                                  Histogram Metrics::*, double ProcessStats::*, RefusalsByStatus,
                                  ClosesByReason, CommandsRefusedByCode, BuildInfo>;
struct MetricSpec {
  std::string_view name;  // the whole name, e.g. wsrelay_connections_open
  MetricType type;
  std::string_view help;
  MetricSource source;
};
std::span<const MetricSpec> metric_table();
std::string_view to_string(MetricType type);

}  // namespace wsrelay
