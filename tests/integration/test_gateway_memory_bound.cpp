// Memory stays bounded under clients that never read (issue "Staying up"):
// 1000 of them under a steady publish stream keep the gateway's RSS under
// baseline + 1000 x max_queue_bytes + 10%, and each one is closed by the
// soft limit, before any could reach the hard one.
#include <chrono>
#include <memory>
#include <thread>

#include "probe_helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

TEST_CASE("1000 clients that never read: bounded RSS, each closed by the soft limit",
          "[gateway][slow][memory]") {
  raise_open_files_limit();
  constexpr int kClients = 1000;
  constexpr long kQueueKiB = 64;  // max_queue_bytes, the per-client cap
  constexpr auto kSoftWindow = 2s;
  RedisServer redis;
  // Soft 16 KiB for 2 s, hard 64 KiB; the stream below is 8 KiB/s per
  // client, so the soft limit (crossed after ~2-4 s, closing 2 s later)
  // acts several seconds before any queue could reach the hard one (~8 s).
  TestGateway gateway(with_redis(
      redis,
      {"--set", "websocket.max_queue_bytes=65536", "--set", "websocket.soft_queue_bytes=16384",
       "--set", "websocket.soft_queue_seconds=2", "--set", "websocket.send_buffer_bytes=4096"}));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/stream?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:stream");
  const auto baseline = proc_status_kib(gateway.pid(), "VmRSS");
  REQUIRE(baseline);

  std::vector<std::unique_ptr<SilentWsSocket>> silent;
  silent.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    silent.push_back(std::make_unique<SilentWsSocket>());
    REQUIRE(silent.back()->connect(gateway.port(), "/ws/stream?subscribe-broadcast", 4096) == 101);
  }

  // 1 KiB every 125 ms, on a fixed schedule; the witness reads each one.
  const std::string filler(1000, 'x');
  const auto start = std::chrono::steady_clock::now();
  const auto hard_limit_earliest = start + 7s;  // 64 KiB at 8 KiB/s, kernel buffers aside
  long peak_kib = *baseline;
  long long closed = 0;
  std::optional<std::chrono::steady_clock::time_point> first_close;
  int n = 0;
  while (closed < kClients && std::chrono::steady_clock::now() < start + 30s) {
    std::this_thread::sleep_until(start + n * 125ms);  // pacing the stream, not syncing
    const std::string payload = std::to_string(++n) + "-" + filler;
    sync.publish("broadcast:stream", payload);
    auto m = witness->read(5s);
    REQUIRE(m);
    REQUIRE(m->data == payload);
    if (auto rss = proc_status_kib(gateway.pid(), "VmRSS")) peak_kib = std::max(peak_kib, *rss);
    closed = metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}")
                 .value_or(0);
    if (closed > 0 && !first_close) first_close = std::chrono::steady_clock::now();
  }
  const auto all_closed = std::chrono::steady_clock::now();
  const auto hwm = proc_status_kib(gateway.pid(), "VmHWM");
  REQUIRE(hwm);
  const long bound_kib = *baseline + static_cast<long>(kClients * kQueueKiB * 11 / 10);
  INFO("baseline " << *baseline << " KiB, peak RSS " << peak_kib << " KiB, VmHWM " << *hwm
                   << " KiB, bound " << bound_kib << " KiB; all closed after "
                   << std::chrono::duration<double>(all_closed - start).count() << " s");
  CHECK(closed == kClients);
  // No close before a queue could have been over the soft limit for the
  // whole window, and every close before any queue could reach the hard one.
  REQUIRE(first_close);
  CHECK(*first_close - start >= kSoftWindow);
  CHECK(all_closed < hard_limit_earliest);
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer the allocator keeps freed blocks in quarantine
  // and maps shadow memory: the process's RSS no longer measures the
  // gateway's own holdings. The behaviour checks below still apply.
  WARN("RSS bound not checked under AddressSanitizer");
#else
  CHECK(peak_kib < bound_kib);
  CHECK(*hwm < bound_kib);
#endif
  // Closed by the soft limit, every one: no hard-limit close in the log
  // (the first of those would always be logged), and the 1000 closes
  // counted above. The soft-limit closes are logged at most once a second.
  const std::string log = gateway.log();
  CHECK(log.find("max_queue_bytes 65536") == std::string::npos);
  std::size_t soft_lines = 0;
  for (auto at = log.find("soft_queue_bytes 16384"); at != std::string::npos;
       at = log.find("soft_queue_bytes 16384", at + 1))
    ++soft_lines;
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  CHECK(soft_lines >= 1);
  CHECK(soft_lines <= static_cast<std::size_t>(seconds.count()) + 1);

  // Each connection ends. Its close frame waits behind the data its kernel
  // buffers hold, so a client that never reads mostly sees none (the
  // gateway gives up after close_timeout_seconds); any close frame is 1013.
  int ended = 0;
  int other_code = 0;
  for (auto& socket : silent) {
    ended += socket->read_until_eof(5s) ? 1 : 0;
    for (const RawFrame& frame : socket->frames())
      if (frame.opcode == 0x8 && close_code_of(frame) != 1013) ++other_code;
  }
  CHECK(ended == kClients);
  CHECK(other_code == 0);
  CHECK(witness->is_open());
}
