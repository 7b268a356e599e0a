// redis.max_message_bytes: a message from Redis over it is dropped, counted
// and logged, never delivered in part, and the gateway never holds it: the
// subscriber skips its payload as it arrives.
#include <string>

#include "helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

TEST_CASE("outbound limit: a 100 MiB PUBLISH is dropped unread: the next message arrives",
          "[gateway][outbound]") {
  // Redis's own pubsub buffer limit off, so Redis sends the whole message.
  RedisServer redis({"--client-output-buffer-limit", "pubsub 0 0 0"});
  TestGateway gateway(with_redis(redis, {"--set", "redis.max_message_bytes=65536"}));
  RedisSync sync(redis.port(), 60s);
  auto client = open_ws(gateway, "/ws/big?subscribe-broadcast");
  sync_subscription(sync, *client, "broadcast:big");
  const auto baseline = proc_status_kib(gateway.pid(), "VmHWM");
  REQUIRE(baseline);

  CHECK(sync.publish("broadcast:big", std::string(100 << 20, 'x')) == 1);
  CHECK(sync.publish("broadcast:big", std::string(65536, 'y')) == 1);  // at the limit
  sync.publish("broadcast:big", "after");
  auto m = client->read(30s);
  REQUIRE(m);
  CHECK(m->data == std::string(65536, 'y'));
  m = client->read(10s);
  REQUIRE(m);
  CHECK(m->data == "after");
  CHECK(metric_value(gateway, "wsrelay_messages_oversized_total") == 1);
  CHECK(gateway.log().find("message on broadcast:big dropped: 104857600 bytes") !=
        std::string::npos);

  // The peak RSS: the 100 MiB message was never held.
  const auto peak = proc_status_kib(gateway.pid(), "VmHWM");
  REQUIRE(peak);
  INFO("VmHWM before " << *baseline << " KiB, after " << *peak << " KiB");
  CHECK(*peak - *baseline < 16 * 1024);
  CHECK(client->is_open());
}

TEST_CASE("outbound limit: a stored last message over the limit is not replayed, and counted",
          "[gateway][outbound]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "redis.max_message_bytes=100"}));
  RedisSync sync(redis.port());
  sync.set("broadcast:a", std::string(101, 'a'), 600);
  sync.set("broadcast:b", std::string(100, 'b'), 600);
  auto a = open_ws(gateway, "/ws/a?subscribe-broadcast");
  auto b = open_ws(gateway, "/ws/b?subscribe-broadcast");
  auto got = b->read(5s);
  REQUIRE(got);
  CHECK(got->data == std::string(100, 'b'));  // exactly at the limit: replayed
  sync.publish("broadcast:a", "live");
  got = a->read(5s);
  REQUIRE(got);
  CHECK(got->data == "live");
  CHECK(metric_value(gateway, "wsrelay_messages_oversized_total") == 1);
}
