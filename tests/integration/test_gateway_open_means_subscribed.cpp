// "Open means subscribed" (docs/protocol.md §4): the 101 is written only once
// Redis has confirmed every channel of the connection, so a message
// published right after the client's open reaches it. Each case repeats the
// narrow window a thousand times: before the 101 waited for the SUBSCRIBE,
// a few in a hundred were lost.
#include <future>
#include <string>

#include "helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

namespace {

constexpr int kRounds = 1000;

// No stored last message: only the live path can deliver.
std::vector<std::string> without_storage(const RedisServer& redis) {
  return with_redis(redis, {"--set", "redis.expire_seconds=0"});
}

}  // namespace

TEST_CASE("open means subscribed: a PUBLISH right after the 101 on a new channel arrives",
          "[gateway][open]") {
  RedisServer redis;
  TestGateway gateway(without_storage(redis));
  RedisSync sync(redis.port());
  REQUIRE(wait_readyz(gateway, 200, 10s));
  int lost = 0;
  for (int i = 0; i < kRounds; ++i) {
    // A facility nobody listens to yet: every handshake waits for its own
    // SUBSCRIBE.
    const std::string facility = "fresh" + std::to_string(i);
    auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast");
    // 1: Redis itself says the gateway was subscribed when this arrived.
    if (sync.publish("broadcast:" + facility, "m" + std::to_string(i)) != 1) {
      ++lost;
      continue;
    }
    auto m = client->read(5s);
    if (!m || m->data != "m" + std::to_string(i)) ++lost;
  }
  CHECK(lost == 0);
}

TEST_CASE("open means subscribed: a PUBLISH right after the 101 on a live channel arrives",
          "[gateway][open]") {
  RedisServer redis;
  TestGateway gateway(without_storage(redis));
  RedisSync sync(redis.port());
  // The channel stays live on the gateway throughout: no Redis round trip
  // for the newcomers, which must still get everything after their 101.
  auto witness = open_ws(gateway, "/ws/live?subscribe-broadcast");
  int lost = 0;
  for (int i = 0; i < kRounds; ++i) {
    auto client = open_ws(gateway, "/ws/live?subscribe-broadcast");
    sync.publish("broadcast:live", "m" + std::to_string(i));
    auto m = client->read(2s);
    if (!m || m->data != "m" + std::to_string(i)) ++lost;
    auto seen = witness->read(5s);
    REQUIRE(seen);
    REQUIRE(seen->data == "m" + std::to_string(i));
  }
  CHECK(lost == 0);
}

TEST_CASE("open means subscribed: a client that reconnects and sends at once gets its echo",
          "[gateway][open]") {
  RedisServer redis;
  TestGateway gateway(without_storage(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  int lost = 0;
  for (int i = 0; i < kRounds; ++i) {
    // The only session on the channel: each one leaves (UNSUBSCRIBE) as the
    // next arrives (SUBSCRIBE), and publishes the moment it is open.
    auto client = open_ws(gateway, "/ws/again?subscribe-broadcast&publish-broadcast&echo");
    REQUIRE(client->send_text("n" + std::to_string(i)));
    auto m = client->read(2s);
    if (!m || m->data != "n" + std::to_string(i)) ++lost;
  }
  CHECK(lost == 0);
}

TEST_CASE("open means subscribed: without echo, a publish right after open never comes back",
          "[gateway][open][echo]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));  // expire_seconds 3600: the publish is stored
  RedisSync sync(redis.port());
  REQUIRE(wait_readyz(gateway, 200, 10s));
  int own_back = 0;
  for (int i = 0; i < kRounds; ++i) {
    const std::string facility = "own" + std::to_string(i);
    const std::string channel = "broadcast:" + facility;
    auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast&publish-broadcast");
    const std::string own = "own-" + std::to_string(i);
    REQUIRE(client->send_text(own));
    // Its SET is done, so the replay may well read it back from Redis...
    REQUIRE(wait_stored(sync, channel, own));
    // ...and the next message it gets must be this one, not its own.
    sync.publish(channel, "marker");
    auto m = client->read(5s);
    REQUIRE(m);
    if (m->data == own) ++own_back;
    CHECK((m->data == "marker" || m->data == own));
  }
  CHECK(own_back == 0);
}

TEST_CASE("open means subscribed: Redis down, the handshake is answered 503 at its deadline",
          "[gateway][open]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "server.handshake_timeout_seconds=1", "--set",
                                         "redis.reconnect_max_ms=100"}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 10s));
  // A session that only publishes needs no subscription: it opens, and its
  // message waits in the pending queue.
  auto publisher = open_ws(gateway, "/ws/later?publish-broadcast");
  REQUIRE(publisher->send_text("kept"));
  WsClient client;
  const auto started = std::chrono::steady_clock::now();
  const HandshakeResult result =
      client.connect(gateway.port(), "/ws/later?subscribe-broadcast", {}, 10s);
  CHECK(result.status == 503);
  CHECK(result.body == "backend unavailable: the subscription was not confirmed in time\n");
  CHECK(std::chrono::steady_clock::now() - started >= 900ms);
  // The refused session gives its slot back once its socket is closed,
  // which the client's close after the 503 races with: wait for it.
  CHECK(
      wait_until([&] { return metric_value(gateway, "wsrelay_connections_open") == 1; }, 5s, 20ms));

  redis.start();
  REQUIRE(wait_readyz(gateway, 200, 15s));
  auto subscriber = open_ws(gateway, "/ws/later?subscribe-broadcast");
  RedisSync sync(redis.port());
  // The publish accepted during the outage was stored, and is replayed.
  auto m = subscriber->read(5s);
  REQUIRE(m);
  CHECK(m->data == "kept");
}
