// End-to-end tests of the channel routes (docs/protocol.md §3.1): a facility
// mapped by the operator to Redis channels of the application's own naming,
// or to a PSUBSCRIBE pattern, with a real redis-server.
#include <string>

#include "helpers.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;

namespace {

constexpr const char* kRoutes = R"(
[[routes]]
facility = "notifications"
channel = "app:notifications"

[[routes]]
facility = "orders"
channel = "app:orders:*"
pattern = true

[[routes]]
facility = "chat"
channel = "app:chat"
flags = ["subscribe-broadcast", "publish-broadcast"]

[[routes]]
facility = "shop"
channel = "app:orders:9"
flags = ["publish-broadcast"]

[[routes]]
facility = "news"
channel = "app:news"
replay = true
)";

// A gateway on `redis` (or on the memory engine when null) with kRoutes.
std::unique_ptr<TestGateway> routed_gateway(TempDir& dir, const RedisServer* redis,
                                            std::vector<std::string> extra = {}) {
  const std::string file = dir.path() + "/wsrelay.toml";
  write_file(file, kRoutes);
  std::vector<std::string> args{"--config", file};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<TestGateway>(redis ? with_redis(*redis, args) : args);
}

}  // namespace

TEST_CASE("routes: a plain PUBLISH on the routed channel reaches the facility's clients",
          "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  RedisSync sync(redis.port());
  auto client = open_ws(*gateway, "/ws/notifications?subscribe-broadcast");
  // Open means subscribed: no synchronisation before the first publish.
  CHECK(sync.publish("app:notifications", "hello") == 1);
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "hello");
  // The ws4redis name of the facility is not subscribed any more.
  CHECK(sync.publish("broadcast:notifications", "not routed") == 0);
  CHECK(client->expect_no_message());
}

TEST_CASE("routes: a pattern route delivers every matching channel, from the open on",
          "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  RedisSync sync(redis.port());
  auto client = open_ws(*gateway, "/ws/orders?subscribe-broadcast");
  CHECK(sync.publish("app:orders:42", "order 42") == 1);
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "order 42");
  CHECK(sync.command({"PUBSUB", "NUMPAT"}).integer == 1);
  CHECK(sync.publish("app:orderz", "no match") == 0);
  CHECK(client->expect_no_message());

  // A second client on the pattern shares the one PSUBSCRIBE.
  auto second = open_ws(*gateway, "/ws/orders?subscribe-broadcast");
  CHECK(sync.publish("app:orders:7", "order 7") == 1);
  CHECK(client->read()->data == "order 7");
  CHECK(second->read()->data == "order 7");

  // The last one gone: PUNSUBSCRIBE.
  client.reset();
  second.reset();
  CHECK(wait_until([&] { return sync.command({"PUBSUB", "NUMPAT"}).integer == 0; }, 5s));
}

TEST_CASE("routes: the pattern is subscribed again after an outage", "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  auto client = open_ws(*gateway, "/ws/orders?subscribe-broadcast");
  redis.stop();
  REQUIRE(wait_readyz(*gateway, 503, 5s));
  redis.start();
  REQUIRE(wait_readyz(*gateway, 200, 10s));
  RedisSync sync(redis.port());
  std::optional<Received> m;
  REQUIRE(wait_until(
      [&] {
        sync.publish("app:orders:1", "after");
        return (m = client->read(50ms)).has_value();
      },
      10s));
  CHECK(m->data == "after");
}

TEST_CASE("routes: a client reaches no channel the operator did not route", "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  RedisSync sync(redis.port());
  for (const char* target :
       {"/ws/app:secret?subscribe-broadcast", "/ws/app%3Asecret?subscribe-broadcast",
        "/ws/app:*?subscribe-broadcast", "/ws/app%2A?subscribe-broadcast",
        "/ws/notifications%3Aapp:secret?subscribe-broadcast"}) {
    WsClient client;
    INFO(target);
    CHECK(client.connect(gateway->port(), target).status == 400);
  }
  // A facility named like the channel's last part is a ws4redis facility.
  auto other = open_ws(*gateway, "/ws/secret?subscribe-broadcast");
  CHECK(sync.publish("app:secret", "secret") == 0);
  CHECK(other->expect_no_message());
  // Only the routes' channels and ws4redis names are ever subscribed.
  const auto channels = sync.command({"PUBSUB", "CHANNELS"});
  for (const auto& channel : channels.elements) CHECK(channel.str == "broadcast:secret");

  // A subscribe-only route refuses publish-broadcast (403), and publishes
  // nothing anywhere.
  WsClient publisher;
  const auto refused = publisher.connect(gateway->port(), "/ws/notifications?publish-broadcast");
  CHECK(refused.status == 403);
  CHECK(refused.body.find("no requested flag is allowed") != std::string::npos);
}

TEST_CASE("routes: publish-broadcast on a route that allows it publishes on its channel",
          "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  RedisSubscriberProbe probe(redis.port(), {"app:chat", "broadcast:chat"});
  auto reader = open_ws(*gateway, "/ws/chat?subscribe-broadcast");
  auto writer = open_ws(*gateway, "/ws/chat?publish-broadcast");
  REQUIRE(writer->send_text("from the browser"));
  CHECK(probe.next_message(5s) == "from the browser");
  auto m = reader->read();
  REQUIRE(m);
  CHECK(m->data == "from the browser");
  // Nothing went to broadcast:chat: only the marker follows.
  RedisSync sync(redis.port());
  sync.publish("broadcast:chat", "marker");
  const auto before = probe.messages_before("broadcast:chat", "marker", 5s);
  REQUIRE(before);
  CHECK(before->empty());
}

TEST_CASE("routes: the stored value is replayed only where the route says replay",
          "[gateway][routes]") {
  RedisServer redis;
  TempDir dir;
  auto gateway = routed_gateway(dir, &redis);
  RedisSync sync(redis.port());
  sync.set("app:notifications", "stored, not replayed", 60);
  sync.set("app:news", "stored news", 60);
  auto plain = open_ws(*gateway, "/ws/notifications?subscribe-broadcast");
  auto news = open_ws(*gateway, "/ws/news?subscribe-broadcast");
  auto m = news->read();
  REQUIRE(m);
  CHECK(m->data == "stored news");
  // The first thing the plain route's client gets is live.
  CHECK(sync.publish("app:notifications", "live") == 1);
  auto first = plain->read();
  REQUIRE(first);
  CHECK(first->data == "live");
}

TEST_CASE("routes: the memory engine matches patterns as Redis does", "[gateway][routes]") {
  TempDir dir;
  auto gateway = routed_gateway(dir, nullptr);
  auto orders = open_ws(*gateway, "/ws/orders?subscribe-broadcast");
  auto chat = open_ws(*gateway, "/ws/chat?subscribe-broadcast&publish-broadcast&echo");
  auto shop = open_ws(*gateway, "/ws/shop?publish-broadcast");
  // app:orders:9 matches app:orders:*; app:chat does not.
  REQUIRE(chat->send_text("hi"));
  auto m = chat->read();
  REQUIRE(m);
  CHECK(m->data == "hi");
  REQUIRE(shop->send_text("order 9"));
  auto order = orders->read();
  REQUIRE(order);
  CHECK(order->data == "order 9");
  CHECK(orders->expect_no_message());
}

TEST_CASE("routes: POST /api/publish with broadcast publishes on the routes that take publishes",
          "[gateway][routes][api]") {
  RedisServer redis;
  TempDir dir;
  const std::string key = "route-key-0123456789abcdef";
  auto gateway = routed_gateway(
      dir, &redis, {"--set", "publish_api.enabled=true", "--set", "publish_api.keys=" + key});
  RedisSubscriberProbe app(redis.port(), {"app:chat", "broadcast:chat"});
  auto client = open_ws(*gateway, "/ws/chat?subscribe-broadcast");
  const Headers headers{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
  auto r = http_request(gateway->port(), "POST", "/api/publish", headers,
                        R"({"facility":"chat","broadcast":true,"message":"from the API"})");
  INFO(r.body);
  CHECK(r.status == 202);
  CHECK(r.body == "{\"channels\":1}\n");
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "from the API");
  // On the route's channel, not on the ws4redis name.
  auto seen = app.next(5s);
  REQUIRE(seen);
  CHECK(seen->channel == "app:chat");
  CHECK(seen->payload == "from the API");

  // A facility whose routes take no publishes is refused, and nothing is
  // published: the application owns that channel.
  RedisSubscriberProbe owned(redis.port(), {"app:notifications", "broadcast:notifications"});
  r = http_request(gateway->port(), "POST", "/api/publish", headers,
                   R"({"facility":"notifications","broadcast":true,"message":"x"})");
  CHECK(r.status == 422);
  CHECK(r.body.find("publish-broadcast") != std::string::npos);
  r = http_request(gateway->port(), "POST", "/api/publish", headers,
                   R"({"facility":"orders","broadcast":true,"message":"x"})");
  CHECK(r.status == 422);
  // The user audience of a routed facility keeps its ws4redis name.
  r = http_request(gateway->port(), "POST", "/api/publish", headers,
                   R"({"facility":"notifications","users":["ann"],"message":"u"})");
  CHECK(r.status == 202);
  RedisSync sync(redis.port());
  CHECK(sync.publish("broadcast:notifications", "marker") == 1);
  const auto before = owned.messages_before("broadcast:notifications", "marker", 5s);
  REQUIRE(before);
  CHECK(before->empty());
  CHECK(client->expect_no_message());
}
