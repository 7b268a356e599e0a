// /metrics: the table of every metric family, its rendering, and the
// process figures read from /proc at each scrape.
#include <wsrelay/runtime/metrics.hpp>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#ifndef WSRELAY_VERSION
#define WSRELAY_VERSION "unknown"
#endif

namespace wsrelay {
namespace {

// Order: the order of /metrics and of the table in docs/operations.md.
const MetricSpec kMetrics[] = {
    {"wsrelay_build_info", MetricType::gauge,
     "Always 1; the version label says which wsrelay this is.", BuildInfo{}},
    {"process_start_time_seconds", MetricType::gauge,
     "Start time of the process since the Unix epoch, in seconds.",
     &ProcessStats::start_time_seconds},
    {"process_cpu_seconds_total", MetricType::counter,
     "User and system CPU time spent, in seconds.", &ProcessStats::cpu_seconds},
    {"process_resident_memory_bytes", MetricType::gauge, "Resident memory size, in bytes.",
     &ProcessStats::resident_memory_bytes},
    {"process_open_fds", MetricType::gauge, "Open file descriptors.", &ProcessStats::open_fds},
    {"process_max_fds", MetricType::gauge, "The open-file limit (soft) the process runs with.",
     &ProcessStats::max_fds},
    {"wsrelay_connections_accepted_total", MetricType::counter, "TCP connections accepted.",
     &Metrics::connections_accepted},
    {"wsrelay_connections_over_limit_total", MetricType::counter,
     "Handshakes refused with 503 because max_connections was reached.",
     &Metrics::connections_over_limit},
    {"wsrelay_connections_refused_no_descriptor_total", MetricType::counter,
     "Connections answered 503 (or 200 for /healthz) and closed at once because the process "
     "had no file descriptor left.",
     &Metrics::connections_refused_no_descriptor},
    {"wsrelay_handshakes_origin_refused_total", MetricType::counter,
     "Handshakes refused with 403 because the Origin is not allowed.",
     &Metrics::handshakes_origin_refused},
    {"wsrelay_connections_open", MetricType::gauge,
     "Open WebSocket sessions, and handshakes being authorized.", &Metrics::connections_open},
    {"wsrelay_handshakes_in_progress", MetricType::gauge,
     "Accepted connections reading their request or being authorized (not yet WebSockets, "
     "nor answered); a scrape counts itself.",
     &Metrics::handshakes_in_progress},
    {"wsrelay_handshakes_over_limit_total", MetricType::counter,
     "Connections answered 503 at accept because server.max_handshakes were in progress.",
     &Metrics::handshakes_over_limit},
    {"wsrelay_handshakes_address_limited_total", MetricType::counter,
     "Connections refused with 429 by a per-client-address limit (open connections or new "
     "connections per second).",
     &Metrics::handshakes_address_limited},
    {"wsrelay_messages_from_redis_total", MetricType::counter,
     "Messages received from the backend.", &Metrics::messages_from_redis},
    {"wsrelay_messages_delivered_total", MetricType::counter,
     "Frames queued to WebSocket sessions.", &Metrics::messages_delivered},
    {"wsrelay_messages_published_total", MetricType::counter,
     "Client messages accepted for PUBLISH.", &Metrics::messages_published},
    {"wsrelay_messages_publish_dropped_total", MetricType::counter,
     "Client messages refused because the pending queue was full.",
     &Metrics::messages_publish_dropped},
    {"wsrelay_api_publishes_total", MetricType::counter,
     "Messages accepted by POST /api/publish (publish_api), each counted once however many "
     "channels it names.",
     &Metrics::api_publishes},
    {"wsrelay_api_publish_refused_total", MetricType::counter,
     "Requests to POST /api/publish answered with an error (400, 401, 405, 413, 415, 503).",
     &Metrics::api_publish_refused},
    {"wsrelay_commands_total", MetricType::counter,
     "Commands of the command channel sent to Redis and answered by it (error replies "
     "included).",
     &Metrics::commands_executed},
    {"wsrelay_messages_oversized_total", MetricType::counter,
     "Messages (or stored last messages) from the backend over redis.max_message_bytes, "
     "dropped: never delivered, not even in part.",
     &Metrics::messages_oversized},
    {"wsrelay_last_messages_replayed_total", MetricType::counter,
     "Stored last messages sent to sessions when they opened.", &Metrics::last_messages_replayed},
    {"wsrelay_history_replayed_total", MetricType::counter,
     "History entries sent to sessions with positions when they opened.",
     &Metrics::history_replayed},
    {"wsrelay_history_resets_total", MetricType::counter,
     "Resumes told \"reset\": the client's position was no longer in the history.",
     &Metrics::history_resets},
    {"wsrelay_last_messages_resent_total", MetricType::counter,
     "Stored last messages re-sent after a Redis outage because they changed.",
     &Metrics::last_messages_resent},
    {"wsrelay_heartbeats_answered_total", MetricType::counter, "Application heartbeats answered.",
     &Metrics::heartbeats_answered},
    {"wsrelay_messages_dropped_slow_consumer_total", MetricType::counter,
     "Messages dropped from slow sessions' queues by a drop-oldest or keep-latest policy.",
     &Metrics::messages_dropped_slow_consumer},
    {"wsrelay_config_reloads_total", MetricType::counter, "Configuration reloads (SIGHUP) applied.",
     &Metrics::config_reloads},
    {"wsrelay_config_reload_failures_total", MetricType::counter,
     "Configuration reloads (SIGHUP) rejected; the running configuration was kept.",
     &Metrics::config_reload_failures},
    {"wsrelay_redis_subscriber_up", MetricType::gauge, "1 when the subscriber connection is up.",
     &Metrics::redis_subscriber_up},
    {"wsrelay_redis_command_up", MetricType::gauge, "1 when the command connection is up.",
     &Metrics::redis_command_up},
    {"wsrelay_redis_reconnects_total", MetricType::counter, "Redis connections re-established.",
     &Metrics::redis_reconnects},
    {"wsrelay_redis_subscribe_refused_total", MetricType::counter,
     "SUBSCRIBEs refused by Redis (ACL); their handshakes refused with 403, or their open "
     "sessions closed with 1008.",
     &Metrics::redis_subscribe_refused},
    {"wsrelay_redis_publish_refused_total", MetricType::counter,
     "Client publishes Redis refused (ACL); their senders were closed with 1008.",
     &Metrics::redis_publish_refused},
    {"wsrelay_redis_channels", MetricType::gauge, "Channels the subscriber is subscribed to.",
     &Metrics::redis_channels},
    {"wsrelay_redis_pending_messages", MetricType::gauge, "Client publishes waiting for Redis.",
     &Metrics::redis_pending_messages},
    {"wsrelay_redis_messages_dropped_total", MetricType::counter,
     "Messages read from Redis and dropped: the hand-off to the hub was over "
     "redis.subscriber_backlog_bytes.",
     &Metrics::redis_messages_dropped},
    {"wsrelay_redis_subscriber_backlog_bytes", MetricType::gauge,
     "Message bytes read from Redis and not yet delivered by every shard.",
     &Metrics::redis_subscriber_backlog_bytes},
    {"wsrelay_redis_cluster_redirects_total", MetricType::counter,
     "Redis Cluster: commands sent again after -MOVED, -ASK, -TRYAGAIN or -CLUSTERDOWN.",
     &Metrics::redis_cluster_redirects},
    {"wsrelay_auth_callback_requests_total", MetricType::counter,
     "Authorization requests sent to auth.callback_url.", &Metrics::auth_callback_requests},
    {"wsrelay_auth_callback_failures_total", MetricType::counter,
     "Handshakes refused with 503 because the authorization callback gave no usable answer.",
     &Metrics::auth_callback_failures},
    {"wsrelay_auth_callback_cache_hits_total", MetricType::counter,
     "Handshakes decided from the authorization callback's cache.",
     &Metrics::auth_callback_cache_hits},
    {"wsrelay_auth_callback_connections_opened_total", MetricType::counter,
     "TCP connections opened to the authorization callback.",
     &Metrics::auth_callback_connections_opened},
    {"wsrelay_auth_callback_pending", MetricType::gauge,
     "Handshakes waiting for a free connection to the authorization callback.",
     &Metrics::auth_callback_pending},
    {"wsrelay_handshakes_refused_total", MetricType::counter,
     "Connections answered with an HTTP error instead of a WebSocket, by status: every "
     "non-101 answer on the WebSocket path, and the refusals at accept (503 over "
     "server.max_handshakes, 429 over server.max_connections_per_address).",
     RefusalsByStatus{}},
    {"wsrelay_sessions_closed_total", MetricType::counter,
     "Opened WebSocket sessions closed, by the first cause of the close.", ClosesByReason{}},
    {"wsrelay_commands_refused_total", MetricType::counter,
     "Commands of the command channel answered with an error object, by its code; "
     "docs/command-channel.md lists the codes.",
     CommandsRefusedByCode{}},
    {"wsrelay_handshake_duration_seconds", MetricType::histogram,
     "From accept to the 101 (every channel subscribed) or to the refusal, for requests on the "
     "WebSocket path.",
     &Metrics::handshake_duration},
    {"wsrelay_auth_callback_duration_seconds", MetricType::histogram,
     "From a handshake's request to auth.callback_url to the site's answer or the failure "
     "(waiting for a free connection included; cache hits are not observed).",
     &Metrics::auth_callback_duration},
    {"wsrelay_delivery_latency_seconds", MetricType::histogram,
     "From the read of a message off the Redis subscriber socket to the write that hands it to "
     "the kernel for a browser; observed once per connection and write batch, for the oldest "
     "message of the batch.",
     &Metrics::delivery_latency},
};

// Every value is a whole number or a float: `{}` writes both in a form
// Prometheus parses (no trailing zeros).
template <typename T>
void sample(std::string& out, std::string_view name, std::string_view labels, T value) {
  out += name;
  out += labels;
  out += fmt::format(" {}\n", value);
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::span<const MetricSpec> metric_table() {
  return kMetrics;
}

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

ProcessStats read_process_stats() {
  ProcessStats stats;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  // /proc/self/stat: the command may hold spaces and parentheses; fields
  // start after the last ')'. utime, stime are fields 14 and 15, starttime
  // 22, rss 24 (1-based).
  const std::string stat = read_file("/proc/self/stat");
  if (const auto paren = stat.rfind(')'); paren != std::string::npos && ticks > 0) {
    std::istringstream fields(stat.substr(paren + 2));
    std::string field;
    std::vector<std::string> f;
    while (fields >> field) f.push_back(field);
    // f[0] is field 3 (state).
    if (f.size() > 21) {
      stats.cpu_seconds = static_cast<double>(std::stoull(f[11]) + std::stoull(f[12])) / ticks;
      const double since_boot = static_cast<double>(std::stoull(f[19])) / ticks;
      stats.resident_memory_bytes = static_cast<double>(std::stoll(f[21])) * page;
      std::istringstream system(read_file("/proc/stat"));
      for (std::string line; std::getline(system, line);)
        if (line.rfind("btime ", 0) == 0) stats.start_time_seconds = std::stod(line.substr(6));
      stats.start_time_seconds += since_boot;
    }
  }
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    std::size_t count = 0;
    while (const dirent* entry = ::readdir(dir))
      if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
    stats.open_fds = static_cast<double>(count > 0 ? count - 1 : 0);  // not the one reading
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) stats.max_fds = static_cast<double>(limit.rlim_cur);
  return stats;
}

std::string Metrics::render_prometheus() const {
  std::string out;
  out.reserve(12 * 1024);
  const ProcessStats process = read_process_stats();
  for (const MetricSpec& m : kMetrics) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, to_string(m.type));
    std::visit(
        [&](const auto& source) {
          using S = std::decay_t<decltype(source)>;
          if constexpr (std::is_same_v<S, Metrics::counter Metrics::*> ||
                        std::is_same_v<S, Metrics::gauge Metrics::*>) {
            sample(out, m.name, "", (this->*source).load(std::memory_order_relaxed));
          } else if constexpr (std::is_same_v<S, Histogram Metrics::*>) {
            (this->*source).render(out, m.name);
          } else if constexpr (std::is_same_v<S, double ProcessStats::*>) {
            sample(out, m.name, "", process.*source);
          } else if constexpr (std::is_same_v<S, RefusalsByStatus>) {
            for (std::size_t i = 0; i < refused_by_status.size(); ++i)
              sample(out, m.name,
                     i < kRefusalStatuses.size()
                         ? fmt::format("{{status=\"{}\"}}", kRefusalStatuses[i])
                         : std::string("{status=\"other\"}"),
                     refused_by_status[i].load(std::memory_order_relaxed));
          } else if constexpr (std::is_same_v<S, CommandsRefusedByCode>) {
            for (std::size_t i = 0; i < commands_refused_by_code.size(); ++i)
              sample(out, m.name, fmt::format("{{code=\"{}\"}}", kCommandErrorCodes[i]),
                     commands_refused_by_code[i].load(std::memory_order_relaxed));
          } else if constexpr (std::is_same_v<S, ClosesByReason>) {
            for (std::size_t i = 0; i < closed_by_reason.size(); ++i)
              sample(out, m.name, fmt::format("{{reason=\"{}\"}}", kCloseCauseNames[i]),
                     closed_by_reason[i].load(std::memory_order_relaxed));
          } else {
            sample(out, m.name, "{version=\"" WSRELAY_VERSION "\"}", 1);
          }
        },
        m.source);
  }
  return out;
}

}  // namespace wsrelay
