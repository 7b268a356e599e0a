// Several gateways on one Redis (docs/scaling.md): three daemons, one real
// redis-server, clients spread over them. Whatever gateway a client lands
// on, it gets the same messages, the same stored last message and the same
// history; nothing is shared between the gateways but Redis.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// Three gateways on `redis`, each started with `args` after --redis.
struct ThreeGateways {
  ThreeGateways(const RedisServer& redis, const std::vector<std::string>& args = {})
      : all{std::make_unique<TestGateway>(with_redis(redis, args)),
            std::make_unique<TestGateway>(with_redis(redis, args)),
            std::make_unique<TestGateway>(with_redis(redis, args))} {}
  TestGateway& operator[](std::size_t i) { return *all[i]; }
  std::array<std::unique_ptr<TestGateway>, 3> all;
};

// Subscribers of `channel` as Redis counts them (PUBSUB NUMSUB).
long long redis_subscribers(RedisSync& redis, const std::string& channel) {
  const RedisValue reply = redis.command({"PUBSUB", "NUMSUB", channel});
  REQUIRE(reply.elements.size() == 2);
  return reply.elements[1].integer;
}

// The next frame of `client` as "<position> <message>"; REQUIREs one.
std::pair<std::string, std::string> read_envelope(WsClient& client) {
  auto m = client.read();
  REQUIRE(m);
  const auto space = m->data.find(' ');
  INFO("frame: " << m->data);
  REQUIRE(space != std::string::npos);
  return {m->data.substr(0, space), m->data.substr(space + 1)};
}

// A history position "<ms>-<seq>" as a pair of numbers, to compare.
std::pair<unsigned long long, unsigned long long> position_of(const std::string& id) {
  const auto dash = id.find('-');
  INFO("position: " << id);
  REQUIRE(dash != std::string::npos);
  return {std::stoull(id.substr(0, dash)), std::stoull(id.substr(dash + 1))};
}

}  // namespace

TEST_CASE("three gateways: a message PUBLISHed once reaches the clients of all three, once",
          "[gateway][scaling]") {
  RedisServer redis;
  ThreeGateways gateways(redis);
  RedisSync sync(redis.port());
  std::vector<std::unique_ptr<WsClient>> clients;
  for (std::size_t g = 0; g < 3; ++g) {
    // Two clients per gateway: each gateway is still one subscriber in Redis.
    clients.push_back(open_ws(gateways[g], "/ws/news?subscribe-broadcast"));
    clients.push_back(open_ws(gateways[g], "/ws/news?subscribe-broadcast"));
  }
  // Open means subscribed: one SUBSCRIBE per gateway, not per client, so
  // Redis writes each message three times, whatever the clients' number.
  CHECK(redis_subscribers(sync, "broadcast:news") == 3);
  CHECK(sync.publish("broadcast:news", "once") == 3);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    INFO("client " << i << " on gateway " << i / 2);
    auto m = clients[i]->read(5s);
    REQUIRE(m);
    CHECK(m->data == "once");
  }
  for (auto& client : clients) CHECK(client->expect_no_message());
}

TEST_CASE("three gateways: a browser's publish on one gateway reaches the others' subscribers",
          "[gateway][scaling]") {
  RedisServer redis;
  ThreeGateways gateways(redis);
  auto sender = open_ws(gateways[0], "/ws/chat?subscribe-broadcast&publish-broadcast");
  auto beside = open_ws(gateways[0], "/ws/chat?subscribe-broadcast");
  auto second = open_ws(gateways[1], "/ws/chat?subscribe-broadcast");
  auto third = open_ws(gateways[2], "/ws/chat?subscribe-broadcast");
  REQUIRE(sender->send_text("from gateway 1"));
  for (WsClient* client : {beside.get(), second.get(), third.get()}) {
    auto m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "from gateway 1");
  }
  // And back: the other gateways publish for their browsers as well.
  auto back = open_ws(gateways[2], "/ws/chat?publish-broadcast");
  REQUIRE(back->send_text("from gateway 3"));
  for (WsClient* client : {sender.get(), beside.get(), second.get(), third.get()}) {
    auto m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "from gateway 3");
  }
  // Without echo the sender got nothing of its own, on any gateway.
  CHECK(sender->expect_no_message());
}

TEST_CASE("three gateways: the stored last message is replayed whichever gateway a client opens on",
          "[gateway][scaling]") {
  RedisServer redis;
  ThreeGateways gateways(redis, {"--set", "redis.expire_seconds=60"});
  RedisSync sync(redis.port());
  {
    auto sender = open_ws(gateways[1], "/ws/board?publish-broadcast");
    REQUIRE(sender->send_text("kept by gateway 2"));
    REQUIRE(wait_stored(sync, "broadcast:board", "kept by gateway 2"));
  }
  CHECK(sync.ttl("broadcast:board") > 0);
  for (std::size_t g = 0; g < 3; ++g) {
    INFO("opens on gateway " << g + 1);
    auto late = open_ws(gateways[g], "/ws/board?subscribe-broadcast");
    auto m = late->read(5s);
    REQUIRE(m);
    CHECK(m->data == "kept by gateway 2");
    CHECK(late->expect_no_message(100ms));
  }
}

TEST_CASE("three gateways: a client resumes on another gateway with since and gets the gap once",
          "[gateway][scaling][history]") {
  RedisServer redis;
  ThreeGateways gateways(redis, {"--set", "history.facilities=chat=100/600"});
  // Publishers on every gateway: each one's publishes go through the history
  // script, and the positions come from one clock in Redis.
  std::vector<std::unique_ptr<WsClient>> senders;
  for (std::size_t g = 0; g < 3; ++g)
    senders.push_back(open_ws(gateways[g], "/ws/chat?publish-broadcast"));
  // Sends `message` from gateway `g` and waits until `watcher` has it, so the
  // order of publishes is the order of the test's lines.
  RedisSubscriberProbe probe(redis.port(), {"broadcast:chat"});
  auto send = [&](std::size_t g, const std::string& message) {
    REQUIRE(senders[g]->send_text(message));
    auto raw = probe.next_message(5s);
    REQUIRE(raw);
    CHECK(raw->ends_with(" " + message));
  };

  std::string position;
  {
    auto client = open_ws(gateways[0], "/ws/chat?subscribe-broadcast&history");
    send(0, "m1");
    send(1, "m2");
    send(2, "m3");
    for (const char* expected : {"m1", "m2", "m3"}) {
      auto [id, message] = read_envelope(*client);
      CHECK(message == expected);
      if (!position.empty()) CHECK(position_of(id) > position_of(position));
      position = id;
    }
  }
  // The gap: published on all three while the client is away.
  send(2, "m4");
  send(0, "m5");
  send(1, "m6");
  auto resumed = open_ws(gateways[1], "/ws/chat?subscribe-broadcast&since=" + position);
  send(2, "m7");  // live, after the replay
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) got.push_back(read_envelope(*resumed).second);
  CHECK(got == std::vector<std::string>{"m4", "m5", "m6", "m7"});
  CHECK(resumed->expect_no_message());
}
