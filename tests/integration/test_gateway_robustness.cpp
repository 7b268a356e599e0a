// End-to-end tests of bad input and slow peers (docs/protocol.md §6): a malformed
// frame closes only its own connection, publishes nothing, and a slow
// consumer is evicted with 1013 without costing anyone else a message.
#include <atomic>
#include <thread>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

struct BadFrame {
  std::string name;
  std::string bytes;
  std::vector<std::uint16_t> accepted_codes;
};

std::vector<BadFrame> bad_frames() {
  std::string unmasked = "\x81\x05hello";  // client frames must be masked
  std::string oversized_ping = RawWsClient::masked_frame(0x9, std::string(126, 'p'));
  return {
      {"unmasked text frame", unmasked, {1002}},
      {"reserved opcode 0x3", RawWsClient::masked_frame(0x3, "x"), {1002}},
      {"ping with a 126-byte payload", oversized_ping, {1002}},
      {"continuation without a start", RawWsClient::masked_frame(0x0, "x"), {1002}},
      {"invalid UTF-8 in a text frame", RawWsClient::masked_frame(0x1, "\xC3\x28"), {1002, 1007}},
  };
}

}  // namespace

TEST_CASE("a malformed frame closes only its own connection and publishes nothing", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto bystander = open_ws(gateway, "/ws/f?subscribe-broadcast");
  sync_subscription(sync, *bystander, "broadcast:f");
  RedisSubscriberProbe probe(redis.port(), {"*"}, /*patterns=*/true);

  for (const BadFrame& bad : bad_frames()) {
    INFO(bad.name);
    RawWsClient raw;
    REQUIRE(raw.connect(gateway.port(), "/ws/f?publish-broadcast&subscribe-broadcast") == 101);
    REQUIRE(raw.send_raw(bad.bytes));
    const auto code = raw.wait_close(5s);
    REQUIRE(code);
    CHECK(std::find(bad.accepted_codes.begin(), bad.accepted_codes.end(), *code) !=
          bad.accepted_codes.end());
    CHECK(raw.wait_eof(5s));
  }

  sync.publish("marker", "end");
  const auto leaked = probe.messages_before("marker", "end", 5s);
  REQUIRE(leaked);
  CHECK(leaked->empty());
  CHECK_FALSE(sync.get("broadcast:f"));

  CHECK(bystander->is_open());
  sync.publish("broadcast:f", "unaffected");
  auto m = bystander->read();
  REQUIRE(m);
  CHECK(m->data == "unaffected");
  CHECK(http_get(gateway.port(), "/healthz").status == 200);
}

TEST_CASE("a slow consumer is closed with 1013 and others get every message", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.max_queue_bytes=262144"}));
  RedisSync sync(redis.port());
  auto healthy = open_ws(gateway, "/ws/feed?subscribe-broadcast");
  sync_subscription(sync, *healthy, "broadcast:feed");

  // Never reads, with a tiny receive window: the gateway's queue for it
  // grows once the kernel buffers are full.
  RawWsClient slow;
  slow.set_receive_buffer_size(4096);
  REQUIRE(slow.connect(gateway.port(), "/ws/feed?subscribe-broadcast") == 101);
  // The slow client's subscription must be live before the flood: publish
  // until it has received something, then never read again.
  int n = 0;
  REQUIRE(wait_until(
      [&] {
        sync.publish("broadcast:feed", "sync-" + std::to_string(++n));
        slow.pump();
        return !slow.frames().empty();
      },
      10s, 10ms));
  std::optional<Received> m;
  while ((m = healthy->read(5s)) && m->data != "sync-" + std::to_string(n)) {
  }
  REQUIRE(m);

  // The flood comes from another thread, at most kWindow messages ahead of
  // what the healthy client has read, so only the slow one falls behind (the
  // healthy one's queue stays under kWindow messages, far below the limit).
  // 600 x 16 KiB is more than the kernel's send buffer (4 MiB at most) plus
  // the slow client's queue limit.
  constexpr int kMessages = 600;
  constexpr int kWindow = 8;
  const std::string chunk(16 * 1024, 'z');
  std::atomic<int> received{0};
  std::atomic<bool> publisher_failed{false};
  std::thread publisher([&] {
    try {
      RedisSync app(redis.port());
      for (int i = 0; i < kMessages; ++i) {
        if (!wait_until([&] { return received.load() >= i - kWindow; }, 10s, 1ms)) {
          throw std::runtime_error("the healthy client stopped reading");
        }
        app.publish("broadcast:feed", std::to_string(i) + chunk);
      }
    } catch (const std::exception&) {
      publisher_failed.store(true);
    }
  });
  struct Join {
    std::thread& t;
    ~Join() { t.join(); }
  } join{publisher};

  while (received.load() < kMessages) {
    m = healthy->read(10s);
    if (!m) break;
    INFO("message " << received.load());
    REQUIRE(m->data == std::to_string(received.load()) + chunk);
    received.fetch_add(1);
  }
  CHECK_FALSE(publisher_failed.load());
  CHECK(received.load() == kMessages);
  CHECK(healthy->is_open());

  // The slow one finds the close code after what was already in flight.
  const auto code = slow.wait_close(10s);
  REQUIRE(code);
  CHECK(*code == 1013);
}
