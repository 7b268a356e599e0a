// Redis Sentinel (redis+sentinel:// URLs) against a real Sentinel set on
// loopback: three sentinels, a master and its replica (sentinel_set.hpp).
// The gateway finds the master through the sentinels, checks its ROLE,
// follows +switch-master, re-subscribes there, and sends client publishes
// held meanwhile after that, in order; /readyz is 503 while it has no
// verified master.
#include <chrono>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/sentinel_set.hpp"

using namespace wsrelay::test;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int kPublishes = 100;

std::vector<std::string> sentinel_args(const SentinelSet& set) {
  return {"--redis", set.url(),
          "--set",   "redis.expire_seconds=0",
          "--set",   "redis.reconnect_min_ms=20",
          "--set",   "redis.reconnect_max_ms=200"};
}

bool log_has(const Gateway& gateway, const std::string& text) {
  return gateway.log().find(text) != std::string::npos;
}

// Every p-1..p-N in order as a subsequence (at least once: a publish in
// flight when a connection dropped is sent again).
int in_order_through(const std::vector<std::string>& got) {
  int next = 1;
  for (const auto& payload : got)
    if (payload == "p-" + std::to_string(next)) ++next;
  return next - 1;
}

}  // namespace

TEST_CASE("sentinel: a forced failover is followed and publishes held meanwhile are delivered",
          "[gateway][sentinel][redis]") {
  SentinelSet set;
  const std::uint16_t old_master = set.node(0).port();
  const std::uint16_t new_master = set.node(1).port();
  TestGateway gateway(sentinel_args(set));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  CHECK(log_has(gateway, "connected to 127.0.0.1:" + std::to_string(old_master) +
                             " db 0 (master \"wsmaster\", its role checked)"));

  auto subscriber = open_ws(gateway, "/ws/f?subscribe-broadcast");
  auto publisher = open_ws(gateway, "/ws/f?publish-broadcast");
  {
    RedisSync master(old_master);
    sync_subscription(master, *subscriber, "broadcast:f");
  }

  for (int i = 1; i <= kPublishes / 2; ++i) REQUIRE(publisher->send_text("p-" + std::to_string(i)));
  const auto failover_at = clock_type::now();
  set.failover();
  for (int i = kPublishes / 2 + 1; i <= kPublishes; ++i)
    REQUIRE(publisher->send_text("p-" + std::to_string(i)));

  {
    const bool switched = wait_until([&] { return set.master_port(0) == new_master; }, 15s, 20ms);
    INFO(set.logs());
    REQUIRE(switched);
  }
  const auto switched_at = clock_type::now();

  // Delivery resumes: a PUBLISH on the new master reaches the browser.
  std::vector<std::string> got;
  bool resumed = false;
  bool saw_not_ready = false;
  RedisSync master(new_master);
  int probe = 0;
  const auto deadline = clock_type::now() + 20s;
  while (!resumed && clock_type::now() < deadline) {
    master.publish("broadcast:f", "probe-" + std::to_string(++probe));
    if (get_status(gateway, "/readyz") != 200) saw_not_ready = true;
    while (auto m = subscriber->read(50ms)) {
      if (m->data.rfind("probe-", 0) == 0) {
        resumed = true;
      } else {
        got.push_back(m->data);
      }
    }
  }
  const auto resumed_at = clock_type::now();
  REQUIRE(resumed);
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  WARN("failover: new master named by the sentinel after "
       << duration_cast<milliseconds>(switched_at - failover_at).count() << " ms; delivery resumed "
       << duration_cast<milliseconds>(resumed_at - failover_at).count()
       << " ms after SENTINEL FAILOVER; /readyz seen not ready: " << saw_not_ready);
  // Without following +switch-master it took 11 s: the old master serves on as a
  // master until the sentinels convert it, and only then drops its clients.
  CHECK(resumed_at - failover_at < 5s);
  CHECK(log_has(gateway, "switched to 127.0.0.1:" + std::to_string(new_master)));
  CHECK(log_has(gateway, "connected to 127.0.0.1:" + std::to_string(new_master)));

  // Every client publish accepted before and during the failover arrives, in order.
  const auto read_deadline = clock_type::now() + 15s;
  while (in_order_through(got) < kPublishes && clock_type::now() < read_deadline)
    if (auto m = subscriber->read(200ms); m && m->data.rfind("probe-", 0) != 0)
      got.push_back(m->data);
  INFO(got.size() << " client publishes received");
  CHECK(in_order_through(got) == kPublishes);
  CHECK(get_status(gateway, "/readyz") == 200);
  CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total").value_or(0) >= 2);
}

TEST_CASE("sentinel: a dead master means not ready until the sentinels promote the replica",
          "[gateway][sentinel][redis]") {
  SentinelSet set;
  const std::uint16_t new_master = set.node(1).port();
  TestGateway gateway(sentinel_args(set));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto subscriber = open_ws(gateway, "/ws/k?subscribe-broadcast");

  const auto killed_at = clock_type::now();
  set.node(0).stop();  // SIGKILL: no failover yet, the sentinels still name it
  REQUIRE(wait_readyz(gateway, 503, 5s));
  CHECK(get_status(gateway, "/healthz") == 200);

  // down-after-milliseconds 1000, then an election and the promotion.
  {
    const bool ready = wait_readyz(gateway, 200, 30s);
    INFO(set.logs());
    REQUIRE(ready);
  }
  const auto ready_at = clock_type::now();
  CHECK(set.master_port(0) == new_master);
  RedisSync master(new_master);
  sync_subscription(master, *subscriber, "broadcast:k");
  WARN("master killed: ready again on the promoted replica after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(ready_at - killed_at).count()
       << " ms");
}

TEST_CASE("sentinel: a master name no sentinel knows is not ready and says why",
          "[gateway][sentinel][redis]") {
  SentinelSet set;
  std::string url = set.url();
  url.replace(url.rfind('/') + 1, std::string::npos, "nosuchmaster");
  TestGateway gateway({"--redis", url});
  REQUIRE(wait_until(
      [&] {
        return log_has(gateway, "no sentinel gave the address of master \"nosuchmaster\"") &&
               log_has(gateway, "does not know that master");
      },
      10s, 20ms));
  CHECK(get_status(gateway, "/readyz") == 503);
  CHECK(get_status(gateway, "/healthz") == 200);
  CHECK(gateway.running());  // as for an unreachable Redis: serve, not ready, keep asking
}

TEST_CASE("sentinel: no reachable sentinel is not ready and says why",
          "[gateway][sentinel][redis]") {
  const std::string url = "redis+sentinel://127.0.0.1:" + std::to_string(free_port()) +
                          ",127.0.0.1:" + std::to_string(free_port()) + "/wsmaster";
  TestGateway gateway({"--redis", url});
  REQUIRE(wait_until(
      [&] {
        return log_has(gateway, "no sentinel gave the address of master \"wsmaster\"") &&
               log_has(gateway, "Connection refused");
      },
      10s, 20ms));
  CHECK(get_status(gateway, "/readyz") == 503);
  CHECK(gateway.running());
}

TEST_CASE("sentinel: wsrelay-publish finds the master through the sentinels",
          "[publish][sentinel][redis]") {
  SentinelSet set;
  RedisSubscriberProbe probe(set.node(0).port(), {"broadcast:cli"});
  auto run = [](const std::string& url) {
    TempDir dir("wsrelay-publish");
    Process process({WSRELAY_PUBLISH_BINARY, "--redis", url, "-f", "cli", "--timeout-ms", "2000",
                     "-b", "hello"},
                    dir.file("log"), {}, {"WSRELAY_"});
    const auto code = process.wait_exit(20s);
    INFO(process.log_contents());
    REQUIRE(code);
    return std::make_pair(*code, process.log_contents());
  };
  const auto [code, output] = run(set.url());
  INFO(output);
  CHECK(code == 0);
  CHECK(probe.next_message(5s) == "hello");

  std::string unknown = set.url();
  unknown.replace(unknown.rfind('/') + 1, std::string::npos, "nosuchmaster");
  const auto [bad_code, bad_output] = run(unknown);
  CHECK(bad_code == 3);  // as for an unreachable Redis
  CHECK_THAT(bad_output,
             Catch::Matchers::Contains("no sentinel gave the address of master \"nosuchmaster\""));
}

TEST_CASE("sentinel: sentinels that want a password are asked with redis.sentinel_password",
          "[gateway][sentinel][redis]") {
  const std::string password = "s3ntinel-pw";
  SentinelSet set("wsmaster", password);
  {
    // Without it the sentinels refuse to answer: not ready, and the log says why.
    TestGateway gateway(sentinel_args(set));
    REQUIRE(wait_until([&] { return log_has(gateway, "NOAUTH"); }, 10s, 20ms));
    CHECK(get_status(gateway, "/readyz") == 503);
  }
  {
    // A wrong one: refused, and never written to the log.
    auto args = sentinel_args(set);
    args.insert(args.end(), {"--set", "redis.sentinel_password=wrong-pw"});
    TestGateway gateway(args);
    REQUIRE(wait_until([&] { return log_has(gateway, "AUTH refused"); }, 10s, 20ms));
    CHECK_FALSE(log_has(gateway, "wrong-pw"));
    CHECK(get_status(gateway, "/readyz") == 503);
  }
  // From the environment, as a secret would come: discovery, the role check,
  // and the +switch-master watch (its own connection, its own AUTH).
  TestGateway gateway(sentinel_args(set), {"WSRELAY_REDIS_SENTINEL_PASSWORD=" + password});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  CHECK_FALSE(log_has(gateway, password));
  auto subscriber = open_ws(gateway, "/ws/pw?subscribe-broadcast");
  {
    RedisSync master(set.node(0).port());
    sync_subscription(master, *subscriber, "broadcast:pw");
  }
  set.failover();
  const std::string new_master = std::to_string(set.node(1).port());
  REQUIRE(wait_until([&] { return log_has(gateway, "switched to 127.0.0.1:" + new_master); }, 15s,
                     20ms));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  {
    RedisSync master(set.node(1).port());
    sync_subscription(master, *subscriber, "broadcast:pw");
  }

  // wsrelay-publish takes it from WSRELAY_REDIS_SENTINEL_PASSWORD.
  RedisSubscriberProbe probe(set.node(1).port(), {"broadcast:cli"});
  TempDir dir("wsrelay-publish");
  Process process({WSRELAY_PUBLISH_BINARY, "--redis", set.url(), "-f", "cli", "--timeout-ms",
                   "3000", "-b", "hello"},
                  dir.file("log"), {"WSRELAY_REDIS_SENTINEL_PASSWORD=" + password}, {"WSRELAY_"});
  const auto code = process.wait_exit(20s);
  INFO(process.log_contents());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(probe.next_message(5s) == "hello");
}
