// Client publishes made while Redis is away reach the gateway's own
// subscribers once it is back (docs/protocol.md §4): they wait until the
// subscriber connection has re-subscribed every channel, then go out in
// order. Before that gate, a command connection back before the subscriber
// sent them to a Redis where the gateway was not subscribed yet.
#include <signal.h>

#include <string>
#include <vector>

#include "helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

namespace {

constexpr int kPublishes = 100;

// A gateway with a subscriber and a publisher on broadcast:o. No stored
// last message: the resync after the outage could not stand in for a lost
// publish.
struct Outage {
  RedisServer redis;
  TestGateway gateway{
      with_redis(redis, {"--set", "redis.expire_seconds=0", "--set", "redis.reconnect_min_ms=20",
                         "--set", "redis.reconnect_max_ms=200"})};
  std::unique_ptr<WsClient> subscriber = open_ws(gateway, "/ws/o?subscribe-broadcast");
  std::unique_ptr<WsClient> publisher = open_ws(gateway, "/ws/o?publish-broadcast");

  Outage() {
    RedisSync sync(redis.port());
    sync_subscription(sync, *subscriber, "broadcast:o");
  }
  void publish_all() {
    for (int i = 1; i <= kPublishes; ++i) REQUIRE(publisher->send_text("p-" + std::to_string(i)));
  }
};

// Reads from `subscriber` until "p-<kPublishes>" arrives; the payloads read.
std::vector<std::string> read_through_last(WsClient& subscriber, std::chrono::seconds timeout) {
  std::vector<std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string last = "p-" + std::to_string(kPublishes);
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = subscriber.read(500ms);
    if (!m) continue;
    got.push_back(m->data);
    if (m->data == last) break;
  }
  return got;
}

// Every p-1..p-N in order as a subsequence, and nothing else. (At least
// once: a publish written before the link was declared dead may also have
// been run by Redis, so an earlier copy may come first.)
void check_all_in_order(const std::vector<std::string>& got) {
  int next = 1;
  for (const auto& payload : got) {
    INFO("received " << payload);
    REQUIRE(payload.rfind("p-", 0) == 0);
    if (payload == "p-" + std::to_string(next)) ++next;
  }
  INFO(got.size() << " received");
  CHECK(next == kPublishes + 1);
}

}  // namespace

TEST_CASE("outage: publishes made while Redis was killed reach the gateway's subscribers",
          "[gateway][outage]") {
  Outage o;
  o.redis.stop();  // SIGKILL
  REQUIRE(wait_readyz(o.gateway, 503, 10s));
  o.publish_all();
  REQUIRE(wait_until(
      [&] { return metric_value(o.gateway, "wsrelay_redis_pending_messages") == kPublishes; }, 10s,
      10ms));
  o.redis.start();

  const auto got = read_through_last(*o.subscriber, 20s);
  check_all_in_order(got);
  CHECK(got.size() == static_cast<std::size_t>(kPublishes));  // nothing was written before
  CHECK(o.publisher->is_open());
  CHECK(metric_value(o.gateway, "wsrelay_redis_pending_messages") == 0);
}

TEST_CASE("outage: publishes made while Redis was frozen for 30 s reach the gateway's subscribers",
          "[gateway][outage]") {
  Outage o;
  const pid_t pid = o.redis.pid();
  struct Thaw {
    pid_t pid;
    bool frozen = true;
    ~Thaw() {
      if (frozen) ::kill(pid, SIGCONT);
    }
  } thaw{pid};
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  const auto frozen_at = std::chrono::steady_clock::now();
  // Written to connections that look alive: no answer comes, and the links
  // are declared dead by their health checks: a tick every 10 s, the first
  // one after the freeze still sees what was read before it, the next sends
  // a PING, the one after gives up. So 20 to 30 s after the freeze, and
  // this freeze comes right after the links came up: close to 30 s (a
  // deadline of 30 s failed once in CI, at 30.1 s).
  o.publish_all();
  REQUIRE(wait_readyz(o.gateway, 503, 40s));
  // Frozen for 30 s in all: nothing can arrive meanwhile.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      frozen_at + 30s - std::chrono::steady_clock::now());
  if (left > 0ms) CHECK(o.subscriber->expect_no_message(left));
  REQUIRE(::kill(pid, SIGCONT) == 0);
  thaw.frozen = false;

  check_all_in_order(read_through_last(*o.subscriber, 20s));
  CHECK(o.publisher->is_open());
}
