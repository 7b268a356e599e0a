// End-to-end tests of the in-process memory engine, used when no Redis is
// configured (ARCHITECTURE.md "Engines"): browsers talk to each other through
// the gateway alone, with the same echo and last-message rules.
#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// With no Redis to publish from, `sender` (a publish-broadcast connection)
// sends "sync-<n>" until `receiver` gets one, then the receiver reads up to
// the last one sent, which it returns.
std::string sync_through_gateway(WsClient& sender, WsClient& receiver) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int sent = 0;
  std::optional<Received> got;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(sender.send_text("sync-" + std::to_string(++sent)));
    got = receiver.read(20ms);
  }
  REQUIRE(got);
  const std::string last = "sync-" + std::to_string(sent);
  while (got && got->data != last) got = receiver.read(5s);
  REQUIRE(got);
  return last;
}

}  // namespace

TEST_CASE("memory engine: a browser's broadcast reaches the other browsers", "[gateway]") {
  TestGateway gateway;  // no --redis
  CHECK(http_get(gateway.port(), "/healthz").status == 200);
  CHECK(wait_readyz(gateway, 200, 5s));

  auto sender = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast");
  auto receiver = open_ws(gateway, "/ws/room?subscribe-broadcast");
  auto elsewhere = open_ws(gateway, "/ws/hall?subscribe-broadcast");
  sync_through_gateway(*sender, *receiver);

  REQUIRE(sender->send_text("hello room"));
  auto m = receiver->read();
  REQUIRE(m);
  CHECK(m->data == "hello room");
  CHECK_FALSE(m->binary);

  const std::string bytes("\x00\xFF\xFE", 3);
  REQUIRE(sender->send_binary(bytes));
  m = receiver->read();
  REQUIRE(m);
  CHECK(m->data == bytes);
  CHECK(m->binary);

  // No echo for the sender (none of the sync messages either), nothing for
  // another facility.
  CHECK(sender->expect_no_message());
  CHECK(elsewhere->expect_no_message(50ms));
}

TEST_CASE("memory engine: echo returns the sender's own messages", "[gateway]") {
  TestGateway gateway;
  auto sender = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast&echo");
  auto receiver = open_ws(gateway, "/ws/room?subscribe-broadcast");
  const std::string last = sync_through_gateway(*sender, *receiver);
  // With echo the sender got its sync messages too, up to the last one.
  std::optional<Received> own = sender->read(5s);
  while (own && own->data != last) own = sender->read(5s);
  REQUIRE(own);

  REQUIRE(sender->send_text("mine"));
  auto m = sender->read();
  REQUIRE(m);
  CHECK(m->data == "mine");
  m = receiver->read();
  REQUIRE(m);
  CHECK(m->data == "mine");
}

TEST_CASE("memory engine: the last message is replayed to a new subscriber", "[gateway]") {
  TestGateway gateway;
  {
    auto sender = open_ws(gateway, "/ws/news?publish-broadcast");
    auto receiver = open_ws(gateway, "/ws/news?subscribe-broadcast");
    sync_through_gateway(*sender, *receiver);
    REQUIRE(sender->send_text("latest"));
    auto m = receiver->read();
    REQUIRE(m);
    REQUIRE(m->data == "latest");
  }
  auto late = open_ws(gateway, "/ws/news?subscribe-broadcast");
  auto m = late->read();
  REQUIRE(m);
  CHECK(m->data == "latest");
  CHECK(late->expect_no_message());
}
