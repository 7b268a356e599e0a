// wsrelay-bench: a WebSocket fan-out load generator for wsrelay and its peers.
//
// Phases: open N connections (at most --connect-concurrency handshakes in
// flight, so no accept queue overflows), publish probes until every
// connection has seen one (subscribed, measured rather than slept for),
// publish M messages at --rate (or, at rate 0, as fast as delivery keeps up
// with a window of --window messages in flight), wait until every message
// reached every connection or nothing moved for --timeout seconds, report.
// The exit code is 1 when anything was lost, duplicated, reordered or a
// connection failed (unless --allow-loss), 2 for a setup error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "fleet.hpp"
#include "latency_histogram.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "publisher.hpp"
#include "ws_client.hpp"

namespace wsrelay::bench {
namespace {

struct Options {
  // Connections take the URLs in turn: several gateways on one Redis.
  std::vector<std::string> urls{"ws://127.0.0.1:8080/ws/bench?subscribe-broadcast"};
  std::size_t connections = 100;
  std::uint64_t messages = 1000;
  double rate = 0;
  std::uint64_t window = 16;
  double duration = 0;
  std::size_t payload = 64;
  std::string redis = "127.0.0.1:6379";
  std::string channel = "broadcast:bench";
  std::string publish_url;
  std::size_t history = 0;  // > 0: publish through the history script, this many entries
  bool positions = false;
  std::vector<int> server_pids;  // their CPU and RSS are summed
  int redis_pid = 0;
  int threads = 1;
  std::size_t connect_concurrency = 128;
  std::size_t read_buffer = 4096;
  double connect_timeout = 60;
  double subscribe_timeout = 30;
  double timeout = 10;
  double idle_after = 0;  // seconds to keep the connections idle after the run, then RSS again
  bool json = false;
  bool allow_loss = false;
  std::string label;
};

struct HostPortPath {
  std::string host;
  std::uint16_t port = 0;
  std::string path;
};

// "scheme://host:port/path?query" for the schemes the tool speaks.
HostPortPath parse_url(const std::string& url, std::string_view scheme) {
  const std::string prefix = std::string(scheme) + "://";
  if (url.rfind(prefix, 0) != 0)
    throw std::runtime_error("URL must start with " + prefix + ": " + url);
  const std::string rest = url.substr(prefix.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  HostPortPath out;
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("URL needs an explicit port: " + url);
  out.host = authority.substr(0, colon);
  out.port = static_cast<std::uint16_t>(std::stoi(authority.substr(colon + 1)));
  return out;
}

std::pair<std::string, std::uint16_t> parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("expected HOST:PORT, got " + text);
  return {text.substr(0, colon), static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)))};
}

void sleep_micros(int micros) {
  std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

void sleep_until_ns(std::int64_t deadline_ns) {
  timespec ts{static_cast<time_t>(deadline_ns / 1'000'000'000),
              static_cast<long>(deadline_ns % 1'000'000'000)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

std::int64_t seconds_to_ns(double s) {
  return static_cast<std::int64_t>(s * 1e9);
}

// CPU time of a process: schedstat (ns resolution) where the kernel has it,
// else utime + stime from /proc/PID/stat.
struct CpuSample {
  std::optional<std::int64_t> ticks;    // /proc/PID/stat
  std::optional<std::int64_t> precise;  // /proc/PID/task/*/schedstat
};
CpuSample cpu_sample(int pid) {
  if (pid <= 0) return {};
  return {process_cpu_micros(pid), process_runtime_micros(pid)};
}
// The sum over several processes; a figure is absent when one lacks it.
CpuSample cpu_sample(const std::vector<int>& pids) {
  if (pids.empty()) return {};
  CpuSample sum{0, 0};
  for (const int pid : pids) {
    const CpuSample one = cpu_sample(pid);
    sum.ticks = sum.ticks && one.ticks ? std::optional(*sum.ticks + *one.ticks) : std::nullopt;
    sum.precise =
        sum.precise && one.precise ? std::optional(*sum.precise + *one.precise) : std::nullopt;
  }
  return sum;
}
// Microseconds between two samples, the precise figure when both have it.
std::optional<std::int64_t> cpu_between(const CpuSample& a, const CpuSample& b) {
  if (a.precise && b.precise) return *b.precise - *a.precise;
  if (a.ticks && b.ticks) return *b.ticks - *a.ticks;
  return std::nullopt;
}
std::optional<std::int64_t> rss_of(const std::vector<int>& pids) {
  if (pids.empty()) return std::nullopt;
  std::int64_t sum = 0;
  for (const int pid : pids) {
    const auto rss = pid > 0 ? process_rss_kib(pid) : std::nullopt;
    if (!rss) return std::nullopt;
    sum += *rss;
  }
  return sum;
}

template <typename T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

int run(const Options& o) {
  using nlohmann::json;
  json r;
  r["label"] = o.label;
  r["url"] = o.urls.front();
  if (o.urls.size() > 1) r["urls"] = o.urls;
  r["load_average_start"] = load_average();
  r["fd_limit"] = raise_fd_limit();

  const std::uint32_t run_id = std::random_device{}() % 100'000'000;
  std::vector<ClientTarget> targets;
  for (const std::string& url : o.urls) {
    const HostPortPath ws = parse_url(url, "ws");
    ClientTarget target;
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    target.endpoint = *resolver.resolve(ws.host, std::to_string(ws.port)).begin();
    target.host = ws.host + ":" + std::to_string(ws.port);
    target.path = ws.path;
    target.run_id = run_id;
    target.positions = o.positions;
    targets.push_back(std::move(target));
  }

  std::unique_ptr<Publisher> publisher;
  if (!o.publish_url.empty()) {
    const HostPortPath http = parse_url(o.publish_url, "http");
    publisher = std::make_unique<HttpPublisher>(http.host, http.port, http.path);
    r["publish"] = "http " + o.publish_url;
  } else {
    const auto [host, port] = parse_host_port(o.redis);
    std::optional<HistoryRule> history;
    if (o.history > 0) history = HistoryRule{"*", o.history, 3600};
    publisher = std::make_unique<RedisPublisher>(host, port, o.channel, history);
    r["publish"] = (history ? "redis EVALSHA history script " : "redis PUBLISH ") + o.channel;
    r["history_entries"] = o.history;
  }
  std::string payload = make_payload_template(o.payload, run_id);

  // ---- connect
  const auto rss_before = rss_of(o.server_pids);
  const auto cpu_before_connect = cpu_sample(o.server_pids);
  Fleet fleet(targets, o.threads, o.messages, o.connect_concurrency, o.read_buffer);
  const std::int64_t connect_start = monotonic_ns();
  fleet.open(o.connections);
  while (fleet.connected() + fleet.failed() < o.connections &&
         monotonic_ns() - connect_start < seconds_to_ns(o.connect_timeout))
    sleep_micros(500);
  const std::uint64_t opened = fleet.connected();
  const double connect_secs =
      opened ? (fleet.latest(&WorkerCounters::last_connect_ns) - connect_start) / 1e9 : 0;
  r["connections"] = o.connections;
  r["connections_opened"] = opened;
  r["connections_failed"] = fleet.failed();
  r["connect_seconds"] = connect_secs;
  r["connects_per_second"] = connect_secs > 0 ? opened / connect_secs : 0;

  // ---- subscribed: probes until every open connection saw one. A new probe
  // goes out only when the count stopped rising, so probing does not load a
  // slow server with a probe per poll.
  const std::int64_t probe_start = monotonic_ns();
  std::uint64_t probes = 0;
  std::uint64_t last_probed = 0;
  std::int64_t last_probe_ns = 0;
  bool subscribed = false;
  while (opened > 0) {
    const std::uint64_t probed = fleet.probed();
    const std::uint64_t alive = fleet.connected() - fleet.closed();
    if (probed >= alive) {
      subscribed = true;
      break;
    }
    const std::int64_t now = monotonic_ns();
    if (now - probe_start > seconds_to_ns(o.subscribe_timeout)) break;
    if (probes == 0 || (probed == last_probed && now - last_probe_ns > 200'000'000)) {
      stamp_payload(payload, 'P', probes++, now);
      publisher->add(payload);
      publisher->flush();
      last_probe_ns = now;
    }
    if (probed != last_probed) last_probe_ns = now;
    last_probed = probed;
    sleep_micros(1000);
  }
  r["subscribe_seconds"] = (monotonic_ns() - probe_start) / 1e9;
  r["probes"] = probes;
  r["all_subscribed"] = subscribed;
  const auto rss_after = rss_of(o.server_pids);
  const auto cpu_after_connect = cpu_sample(o.server_pids);
  r["server_rss_before_kib"] = opt(rss_before);
  r["server_rss_connected_kib"] = opt(rss_after);
  if (rss_before && rss_after && opened)
    r["server_rss_per_connection_kib"] = double(*rss_after - *rss_before) / opened;
  if (const auto cpu = cpu_between(cpu_before_connect, cpu_after_connect); cpu && opened)
    r["server_cpu_us_per_connection"] = double(*cpu) / opened;

  // ---- publish
  const std::uint64_t fanout = opened;
  const auto server_cpu0 = cpu_sample(o.server_pids);
  const auto redis_cpu0 = cpu_sample(o.redis_pid);
  const std::int64_t self_cpu0 = self_cpu_micros();
  const auto machine0 = machine_busy_micros();
  const std::int64_t t0 = monotonic_ns();
  const std::int64_t stop_at = o.duration > 0 ? t0 + seconds_to_ns(o.duration) : INT64_MAX;
  std::uint64_t published = 0;
  bool stalled = false;
  std::uint64_t last_delivered = 0;
  std::int64_t last_progress = t0;
  auto publish_batch = [&](std::uint64_t n) {
    for (std::uint64_t k = 0; k < n; ++k) {
      stamp_payload(payload, 'M', published++, monotonic_ns());
      publisher->add(payload);
    }
    publisher->flush();
  };
  while (subscribed && published < o.messages) {
    const std::int64_t now = monotonic_ns();
    if (now >= stop_at) break;
    if (o.rate > 0) {
      const auto due = std::min<std::uint64_t>(
          o.messages, static_cast<std::uint64_t>((now - t0) / 1e9 * o.rate) + 1);
      if (due > published) {
        publish_batch(std::min<std::uint64_t>(due - published, 1024));
      } else {
        sleep_until_ns(t0 + static_cast<std::int64_t>(published * 1e9 / o.rate));
      }
    } else {
      // Closed loop: at most `window` messages' worth of deliveries pending.
      const std::uint64_t delivered = fleet.delivered();
      if (delivered != last_delivered) {
        last_delivered = delivered;
        last_progress = now;
      }
      const std::uint64_t allowed = o.window + (fanout ? delivered / fanout : 0);
      if (published < allowed) {
        publish_batch(std::min<std::uint64_t>({allowed - published, o.messages - published, 256}));
        last_progress = now;
      } else if (now - last_progress > seconds_to_ns(o.timeout)) {
        stalled = true;
        break;
      } else {
        sleep_micros(50);
      }
    }
  }
  const std::int64_t publish_end = monotonic_ns();

  // ---- drain: until everything arrived or nothing moved for --timeout.
  const std::uint64_t expected = published * fanout;
  last_delivered = fleet.delivered();
  last_progress = monotonic_ns();
  while (true) {
    const std::uint64_t delivered = fleet.delivered();
    const std::int64_t now = monotonic_ns();
    if (delivered >= expected) break;
    if (delivered != last_delivered) {
      last_delivered = delivered;
      last_progress = now;
    } else if (now - last_progress > seconds_to_ns(o.timeout)) {
      break;
    }
    sleep_micros(200);
  }
  const auto server_cpu1 = cpu_sample(o.server_pids);
  const auto redis_cpu1 = cpu_sample(o.redis_pid);
  const std::int64_t self_cpu1 = self_cpu_micros();
  const auto machine1 = machine_busy_micros();
  const auto server_rss_end = rss_of(o.server_pids);
  const std::int64_t last_delivery = fleet.latest(&WorkerCounters::last_delivery_ns);
  const std::int64_t t_end = std::max(last_delivery, t0 + 1);
  const bool replies = publisher->wait_replies(
      publisher->sent(), std::chrono::steady_clock::now() + std::chrono::seconds(5));
  // Memory once the connections have been idle a while after the run: what
  // a burst leaves behind in the server.
  std::optional<std::int64_t> server_rss_idle;
  if (o.idle_after > 0) {
    sleep_micros(static_cast<int>(o.idle_after * 1e6));
    server_rss_idle = rss_of(o.server_pids);
  }
  fleet.stop();

  const ReceiveTotals totals = fleet.totals(published);
  const LatencyHistogram hist = fleet.histogram();
  const double secs = (t_end - t0) / 1e9;
  r["payload_bytes"] = payload.size();
  r["rate"] = o.rate;
  r["window"] = o.rate > 0 ? json(nullptr) : json(o.window);
  r["messages_published"] = published;
  r["publish_seconds"] = (publish_end - t0) / 1e9;
  r["published_per_second"] = publish_end > t0 ? published / ((publish_end - t0) / 1e9) : 0;
  r["publish_stalled"] = stalled;
  r["publish_replies_ok"] = publisher->replies_ok();
  r["publish_replies_failed"] = publisher->replies_failed();
  if (!publisher->last_error().empty()) r["publish_error"] = publisher->last_error();
  r["deliveries_expected"] = expected;
  r["delivered"] = totals.distinct;
  r["lost"] = totals.lost;
  r["duplicated"] = totals.duplicates;
  r["out_of_order"] = totals.out_of_order;
  r["unexpected"] = totals.unexpected;
  r["other_messages"] = totals.other_messages;
  r["closed_early"] = fleet.closed();
  r["pings_answered"] = totals.pings;
  r["protocol_errors"] = totals.protocol_errors;
  r["measure_seconds"] = secs;
  r["delivered_per_second"] = totals.distinct / secs;
  r["latency_ms"] = {{"p50", hist.percentile(0.50) / 1e3},
                     {"p99", hist.percentile(0.99) / 1e3},
                     {"p999", hist.percentile(0.999) / 1e3},
                     {"max", hist.max() / 1e3}};
  if (const auto cpu = cpu_between(server_cpu0, server_cpu1)) {
    r["server_cpu_us"] = *cpu;
    r["server_cpu_percent"] = 100.0 * *cpu / (secs * 1e6);
    r["server_cpu_us_per_delivery"] = totals.distinct ? double(*cpu) / totals.distinct : 0;
    r["server_cpu_us_per_message"] = published ? double(*cpu) / published : 0;
  }
  if (server_cpu0.ticks && server_cpu1.ticks)
    r["server_cpu_us_stat"] = *server_cpu1.ticks - *server_cpu0.ticks;
  r["server_rss_end_kib"] = opt(server_rss_end);
  if (server_rss_end && rss_before && opened)
    r["server_rss_end_per_connection_kib"] = double(*server_rss_end - *rss_before) / opened;
  if (server_rss_idle && rss_before && opened) {
    r["server_rss_idle_kib"] = *server_rss_idle;
    r["server_rss_idle_per_connection_kib"] = double(*server_rss_idle - *rss_before) / opened;
  }
  if (const auto cpu = cpu_between(redis_cpu0, redis_cpu1)) {
    r["redis_cpu_us"] = *cpu;
    r["redis_cpu_us_per_message"] = published ? double(*cpu) / published : 0;
  }
  r["client_cpu_us"] = self_cpu1 - self_cpu0;
  r["client_cpu_percent"] = 100.0 * (self_cpu1 - self_cpu0) / (secs * 1e6);
  r["client_cpu_us_per_delivery"] =
      totals.distinct ? double(self_cpu1 - self_cpu0) / totals.distinct : 0;
  r["client_threads"] = o.threads;
  // Noise: CPU that neither the server, the broker nor this client used
  // during the measurement, in percent of one core.
  if (machine0 && machine1) {
    std::int64_t other = *machine1 - *machine0 - (self_cpu1 - self_cpu0);
    if (const auto cpu = cpu_between(server_cpu0, server_cpu1)) other -= *cpu;
    if (const auto cpu = cpu_between(redis_cpu0, redis_cpu1)) other -= *cpu;
    r["other_cpu_percent"] = std::max(0.0, 100.0 * other / (secs * 1e6));
  }
  r["load_average_end"] = load_average();
  const std::string error = fleet.first_error();
  if (!error.empty()) r["first_error"] = error;

  const bool clean = subscribed && replies && !stalled && fleet.failed() == 0 &&
                     fleet.closed() == 0 && totals.lost == 0 && totals.duplicates == 0 &&
                     totals.out_of_order == 0 && totals.unexpected == 0 &&
                     publisher->replies_failed() == 0 && opened == o.connections;
  r["ok"] = clean;

  if (o.json) {
    std::cout << r.dump() << std::endl;
  } else {
    // A number from the report with `digits` decimals, "-" when absent.
    auto num = [&](const char* k, int digits = 0) {
      if (!r.contains(k) || !r[k].is_number()) return std::string("-");
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.*f", digits, r[k].get<double>());
      return std::string(buf);
    };
    std::printf(
        "%s %s%s\n", o.label.empty() ? "wsrelay-bench" : o.label.c_str(), o.urls.front().c_str(),
        o.urls.size() > 1 ? (" and " + std::to_string(o.urls.size() - 1) + " more").c_str() : "");
    std::printf("  connections   %s/%zu opened, %s failed, %s closed early; %s/s accepted\n",
                num("connections_opened").c_str(), o.connections, num("connections_failed").c_str(),
                num("closed_early").c_str(), num("connects_per_second").c_str());
    std::printf("  subscribed    %s after %.3f s (%llu probes)\n", subscribed ? "all" : "NOT ALL",
                r["subscribe_seconds"].get<double>(), static_cast<unsigned long long>(probes));
    std::printf("  published     %llu messages of %zu bytes in %.3f s (%s)\n",
                static_cast<unsigned long long>(published), payload.size(),
                (publish_end - t0) / 1e9, o.rate > 0 ? "rate-paced" : "closed loop");
    std::printf("  delivered     %llu of %llu, %s/s; lost %llu, dup %llu, out of order %llu\n",
                static_cast<unsigned long long>(totals.distinct),
                static_cast<unsigned long long>(expected), num("delivered_per_second").c_str(),
                static_cast<unsigned long long>(totals.lost),
                static_cast<unsigned long long>(totals.duplicates),
                static_cast<unsigned long long>(totals.out_of_order));
    std::printf("  latency ms    p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
                hist.percentile(0.5) / 1e3, hist.percentile(0.99) / 1e3,
                hist.percentile(0.999) / 1e3, hist.max() / 1e3);
    std::printf(
        "  server        %s us cpu/delivery, %s us cpu/message (%s%% of a core), %s us "
        "cpu/connect\n",
        num("server_cpu_us_per_delivery", 3).c_str(), num("server_cpu_us_per_message", 2).c_str(),
        num("server_cpu_percent").c_str(), num("server_cpu_us_per_connection", 1).c_str());
    std::printf("  server rss    %s KiB before, %s KiB connected: %s KiB/connection\n",
                num("server_rss_before_kib").c_str(), num("server_rss_connected_kib").c_str(),
                num("server_rss_per_connection_kib", 2).c_str());
    std::printf(
        "  server rss    after the run %s KiB/connection, idle after it %s KiB/connection\n",
        num("server_rss_end_per_connection_kib", 2).c_str(),
        num("server_rss_idle_per_connection_kib", 2).c_str());
    if (r.contains("redis_cpu_us_per_message"))
      std::printf("  redis         %s us cpu/message\n",
                  num("redis_cpu_us_per_message", 1).c_str());
    std::printf("  client        %s us cpu/delivery (%s%% of a core, %d threads)\n",
                num("client_cpu_us_per_delivery", 3).c_str(), num("client_cpu_percent").c_str(),
                o.threads);
    std::printf("  machine       %s%% of a core used by other processes (load %s)\n",
                num("other_cpu_percent").c_str(), r["load_average_end"].get<std::string>().c_str());
    if (!error.empty()) std::printf("  first error   %s\n", error.c_str());
    std::printf("  result        %s\n", clean ? "ok" : "FAILED (loss or errors)");
  }
  return clean || o.allow_loss ? 0 : 1;
}

}  // namespace
}  // namespace wsrelay::bench

int main(int argc, char** argv) {
  using wsrelay::bench::Options;
  Options o;
  CLI::App app{"wsrelay-bench: WebSocket fan-out load generator (wsrelay, Nchan, Node relay)"};
  app.add_option("--url", o.urls,
                 "ws://HOST:PORT/PATH?QUERY the connections open; repeated, they take the URLs in "
                 "turn (several gateways on one Redis)")
      ->capture_default_str()
      ->take_all();
  app.add_option("--connections", o.connections, "WebSocket connections")->capture_default_str();
  app.add_option("--messages", o.messages, "measured messages to publish")->capture_default_str();
  app.add_option("--rate", o.rate, "messages per second; 0 = closed loop, as fast as delivered")
      ->capture_default_str();
  app.add_option("--window", o.window, "rate 0: messages in flight at most")->capture_default_str();
  app.add_option("--duration", o.duration, "stop publishing after this many seconds (0 = never)")
      ->capture_default_str();
  app.add_option("--payload", o.payload, "payload bytes (at least 33)")->capture_default_str();
  app.add_option("--redis", o.redis, "HOST:PORT the messages are PUBLISHed to")
      ->capture_default_str();
  app.add_option("--channel", o.channel, "Redis channel")->capture_default_str();
  app.add_option("--publish-url", o.publish_url,
                 "http://HOST:PORT/PATH: POST each message there instead of Redis (Nchan)");
  app.add_option("--history", o.history,
                 "publish through wsrelay's history script keeping this many entries "
                 "(0: plain PUBLISH)")
      ->capture_default_str();
  app.add_flag("--positions", o.positions,
               "the URL asks for positions (?history): skip each message's position");
  app.add_option("--server-pid", o.server_pids,
                 "server process for CPU and RSS (from /proc); repeated, they are summed")
      ->take_all();
  app.add_option("--redis-pid", o.redis_pid, "redis-server process for broker CPU");
  app.add_option("--threads", o.threads, "receiver threads, one io_context each")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--connect-concurrency", o.connect_concurrency, "handshakes in flight at most")
      ->capture_default_str();
  app.add_option("--read-buffer", o.read_buffer, "bytes of read buffer per connection")
      ->capture_default_str();
  app.add_option("--connect-timeout", o.connect_timeout, "seconds")->capture_default_str();
  app.add_option("--subscribe-timeout", o.subscribe_timeout, "seconds")->capture_default_str();
  app.add_option("--timeout", o.timeout, "seconds without a delivery before giving up")
      ->capture_default_str();
  app.add_option("--idle-after", o.idle_after,
                 "seconds to keep the connections idle after the run before sampling RSS again")
      ->capture_default_str();
  app.add_option("--label", o.label, "name copied into the report");
  app.add_flag("--json", o.json, "one JSON object on stdout");
  app.add_flag("--allow-loss", o.allow_loss, "exit 0 even when messages were lost");
  CLI11_PARSE(app, argc, argv);
  try {
    return wsrelay::bench::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsrelay-bench: %s\n", e.what());
    return 2;
  }
}
