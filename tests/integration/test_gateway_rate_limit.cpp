// The per-connection publish rate limit (websocket.publish_rate and
// publish_burst, a token bucket): over it the client is closed with 1008
// and counted; a client under it is not affected.
#include <thread>

#include "probe_helpers.hpp"

using namespace wsrelay::test;

TEST_CASE("publish rate: a burst over the bucket closes with 1008, a paced client is fine",
          "[gateway][limits]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "websocket.publish_rate=20", "--set", "websocket.publish_burst=10", "--set",
              "websocket.heartbeat=--heartbeat--"}));
  RedisSync sync(redis.port());
  auto reader = open_ws(gateway, "/ws/room?subscribe-broadcast");
  expect_heartbeat_at_open(*reader);
  sync_subscription(sync, *reader, "broadcast:room");

  // 30 messages at once: the first 10 (the burst) are published, then 1008.
  RawWsClient flooder;
  REQUIRE(flooder.connect(gateway.port(), "/ws/room?publish-broadcast") == 101);
  std::string burst;
  for (int i = 1; i <= 30; ++i)
    burst += RawWsClient::masked_frame(0x1, "flood-" + std::to_string(i));
  REQUIRE(flooder.send_raw(burst));
  REQUIRE(flooder.wait_close(5s) == 1008);
  std::string reason;
  for (const RawFrame& frame : flooder.frames())
    if (frame.opcode == 0x8) reason = frame.payload.substr(2);
  CHECK(reason == "publish rate limit exceeded");
  for (int i = 1; i <= 10; ++i) {
    auto m = reader->read(5s);
    REQUIRE(m);
    CHECK(m->data == "flood-" + std::to_string(i));
  }
  // Refill during the burst is at most a token or so.
  int extra = 0;
  while (auto m = reader->read(300ms)) {
    CHECK(m->data == "flood-" + std::to_string(11 + extra));
    ++extra;
  }
  CHECK(extra <= 1);
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"rate_limited\"}") == 1);

  // 40 messages at ~16 per second (under 20/s; pacing, not synchronisation),
  // heartbeats mixed in: every message arrives, the connection stays open.
  auto paced = open_ws(gateway, "/ws/room?publish-broadcast");
  expect_heartbeat_at_open(*paced);
  for (int i = 1; i <= 40; ++i) {
    const bool heartbeat = i % 5 == 0;
    REQUIRE(paced->send_text(heartbeat ? "--heartbeat--" : "paced-" + std::to_string(i)));
    if (heartbeat) {
      auto answer = paced->read(5s);
      REQUIRE(answer);
      CHECK(answer->data == "--heartbeat--");
    } else {
      auto m = reader->read(5s);
      REQUIRE(m);
      CHECK(m->data == "paced-" + std::to_string(i));
    }
    std::this_thread::sleep_for(60ms);
  }
  CHECK(paced->is_open());
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"rate_limited\"}") == 1);
}

TEST_CASE("publish rate: heartbeats count, so a heartbeat flood is cut too", "[gateway][limits]") {
  RedisServer redis;
  TestGateway gateway(
      with_redis(redis, {"--set", "websocket.publish_rate=5", "--set", "websocket.publish_burst=5",
                         "--set", "websocket.heartbeat=--heartbeat--"}));
  RawWsClient client;
  REQUIRE(client.connect(gateway.port(), "/ws/room") == 101);
  std::string flood;
  for (int i = 0; i < 50; ++i) flood += RawWsClient::masked_frame(0x1, "--heartbeat--");
  REQUIRE(client.send_raw(flood));
  REQUIRE(client.wait_close(5s) == 1008);
  int answers = 0;
  for (const RawFrame& frame : client.frames())
    if (frame.opcode == 0x1 && frame.payload == "--heartbeat--") ++answers;
  CHECK(answers == 5 + 1);  // and the one sent at open
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"rate_limited\"}") == 1);
}

TEST_CASE("publish rate 0 turns the limit off", "[gateway][limits]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "websocket.publish_rate=0", "--set", "websocket.publish_burst=1"}));
  RedisSync sync(redis.port());
  auto reader = open_ws(gateway, "/ws/room?subscribe-broadcast");
  sync_subscription(sync, *reader, "broadcast:room");
  RawWsClient talker;
  REQUIRE(talker.connect(gateway.port(), "/ws/room?publish-broadcast") == 101);
  std::string burst;
  for (int i = 1; i <= 500; ++i) burst += RawWsClient::masked_frame(0x1, "m-" + std::to_string(i));
  REQUIRE(talker.send_raw(burst));
  for (int i = 1; i <= 500; ++i) {
    auto m = reader->read(5s);
    REQUIRE(m);
    REQUIRE(m->data == "m-" + std::to_string(i));
  }
  talker.pump();
  CHECK_FALSE(talker.closed());
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"rate_limited\"}") == 0);
}
