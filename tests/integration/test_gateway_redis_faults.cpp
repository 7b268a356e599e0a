// End-to-end tests of Redis failures (ARCHITECTURE.md "Lifecycle"): the
// gateway serves without Redis, reports not-ready, reconnects on its own and
// resumes delivery; browser connections survive the outage.
#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// Short reconnect backoff so the tests take seconds, not minutes.
const std::vector<std::string> kFastReconnect{"--set", "redis.reconnect_min_ms=50", "--set",
                                              "redis.reconnect_max_ms=300"};

std::vector<std::string> fast_reconnect(const RedisServer& redis) {
  return with_redis(redis, kFastReconnect);
}

// Publishes "<tag>-<n>" on `channel` from a fresh connection until `client`
// receives one (delivery resumed); false after `timeout`.
bool wait_delivery(const RedisServer& redis, WsClient& client, const std::string& channel,
                   const std::string& tag, std::chrono::milliseconds timeout) {
  int n = 0;
  std::unique_ptr<RedisSync> app;
  return wait_until(
      [&] {
        try {
          if (!app) app = std::make_unique<RedisSync>(redis.port(), 500ms);
          app->publish(channel, tag + "-" + std::to_string(++n));
        } catch (const std::exception&) {
          app.reset();
          return false;
        }
        auto m = client.read(50ms);
        return m && m->data.rfind(tag + "-", 0) == 0;
      },
      timeout, 1ms);
}

}  // namespace

TEST_CASE("redis restart: not ready while down, then delivery resumes", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(fast_reconnect(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_ws(gateway, "/ws/live?subscribe-broadcast&publish-broadcast");
  REQUIRE(wait_delivery(redis, *client, "broadcast:live", "before", 10s));

  redis.stop();
  CHECK(wait_readyz(gateway, 503, 10s));
  CHECK(http_get(gateway.port(), "/healthz").status == 200);  // alive, just not ready
  CHECK(client->is_open());

  redis.start();
  CHECK(wait_readyz(gateway, 200, 15s));
  CHECK(wait_delivery(redis, *client, "broadcast:live", "after", 15s));
  CHECK(client->is_open());

  // The browser -> Redis direction works again too.
  RedisSubscriberProbe probe(redis.port(), {"broadcast:live"});
  REQUIRE(client->send_text("from browser"));
  CHECK(probe.next_message(5s) == "from browser");
}

TEST_CASE("redis restart: new connections after the restart are served", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(fast_reconnect(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 10s));
  redis.start();
  REQUIRE(wait_readyz(gateway, 200, 15s));

  RedisSync sync(redis.port());
  sync.set("broadcast:fresh", "stored", 60);
  auto client = open_ws(gateway, "/ws/fresh?subscribe-broadcast");
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "stored");
  CHECK(wait_delivery(redis, *client, "broadcast:fresh", "live", 10s));
}

TEST_CASE("browser messages sent while redis is down are published after it returns", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(fast_reconnect(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_ws(gateway, "/ws/held?publish-broadcast");

  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 10s));
  REQUIRE(client->send_text("held"));
  redis.start();

  RedisSync sync(redis.port());
  CHECK(wait_until([&] { return sync.get("broadcast:held") == "held"; }, 15s, 20ms));
  CHECK(client->is_open());
}

TEST_CASE("redis down at start-up: the gateway serves, is not ready, then recovers", "[gateway]") {
  RedisServer redis;
  redis.stop();  // keeps its port for start()
  TestGateway gateway(fast_reconnect(redis));
  CHECK(http_get(gateway.port(), "/healthz").status == 200);
  CHECK(http_get(gateway.port(), "/readyz").status == 503);
  CHECK(http_get(gateway.port(), "/metrics").status == 200);

  redis.start();
  REQUIRE(wait_readyz(gateway, 200, 15s));
  auto client = open_ws(gateway, "/ws/late?subscribe-broadcast");
  CHECK(wait_delivery(redis, *client, "broadcast:late", "up", 10s));
}
