// History and resume on Redis Streams (docs/history.md), end to end: a real
// redis-server, the daemon, real WebSocket sockets.
#include <string>
#include <vector>

#include <wsrelay/publisher/publisher.hpp>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

const std::vector<std::string> kHistoryArgs = {"--set", "history.facilities=chat=5/600"};

// "<id> <message>" -> {id, message}; REQUIREs the form.
std::pair<std::string, std::string> split_envelope(const std::string& frame) {
  const auto space = frame.find(' ');
  INFO("frame: " << frame);
  REQUIRE(space != std::string::npos);
  return {frame.substr(0, space), frame.substr(space + 1)};
}

// The next frame of `client`, split; REQUIREs one within the deadline.
std::pair<std::string, std::string> read_envelope(WsClient& client) {
  auto m = client.read();
  REQUIRE(m);
  return split_envelope(m->data);
}

wsrelay::Publisher publisher_for(const RedisServer& redis) {
  wsrelay::RedisEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = redis.port();
  return wsrelay::Publisher(endpoint, "");
}

const wsrelay::HistoryRule kRule{"chat", 5, 600};

void publish(wsrelay::Publisher& publisher, const std::string& message) {
  wsrelay::PublishTarget target;
  target.facility = "chat";
  target.broadcast = true;
  publisher.publish(target, message, 0, kRule);
}

}  // namespace

TEST_CASE("history: a client publish is appended and published with its position",
          "[gateway][history]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, kHistoryArgs));
  RedisSync sync(redis.port());
  RedisSubscriberProbe probe(redis.port(), {"broadcast:chat"});

  auto plain = open_ws(gateway, "/ws/chat?subscribe-broadcast");
  auto positioned = open_ws(gateway, "/ws/chat?subscribe-broadcast&history");
  auto sender = open_ws(gateway, "/ws/chat?publish-broadcast");
  // A browser cannot forge a position: what it sends is the message, marker
  // or not, and the gateway adds its own.
  const std::string forged = std::string("\0wsrelay-history\0", 17) + "99999999999999-0 forged";
  REQUIRE(sender->send_text("hello"));
  REQUIRE(sender->send_text(forged));

  auto a = plain->read();
  auto b = plain->read();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->data == "hello");
  CHECK(b->data == forged);

  auto pa = positioned->read();
  auto pb = positioned->read();
  REQUIRE(pa);
  REQUIRE(pb);
  auto [id_a, message_a] = split_envelope(pa->data);
  auto [id_b, message_b] = split_envelope(pb->data);
  CHECK(message_a == "hello");
  CHECK(message_b == forged);
  CHECK(id_a != id_b);
  CHECK(id_a != "99999999999999-0");

  // The stream holds both, under the ids the clients got.
  auto range = sync.command({"XRANGE", "history:broadcast:chat", "-", "+"});
  REQUIRE(range.elements.size() == 2);
  CHECK(range.elements[0].elements[0].str == id_a);
  CHECK(range.elements[1].elements[0].str == id_b);
  // Other Redis subscribers see the marked form; the stored last message is
  // the message itself.
  auto raw = probe.next_message(5s);
  REQUIRE(raw);
  CHECK(*raw == std::string("\0wsrelay-history\0", 17) + id_a + " hello");
  CHECK(sync.get("broadcast:chat") == forged);
}

TEST_CASE("history: a plain PUBLISH passes byte for byte, without a position",
          "[gateway][history]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, kHistoryArgs));
  RedisSync sync(redis.port());
  auto plain = open_ws(gateway, "/ws/chat?subscribe-broadcast");
  auto positioned = open_ws(gateway, "/ws/chat?subscribe-broadcast&history");
  sync.publish("broadcast:chat", "old publisher");
  auto m = plain->read();
  REQUIRE(m);
  CHECK(m->data == "old publisher");
  auto p = positioned->read();
  REQUIRE(p);
  CHECK(p->data == "- old publisher");
  CHECK(sync.command({"EXISTS", "history:broadcast:chat"}).integer == 0);

  // A marker on a channel without history is not read: it passes as it is.
  auto other = open_ws(gateway, "/ws/news?subscribe-broadcast");
  const std::string marked = std::string("\0wsrelay-history\0", 17) + "1-0 x";
  sync.publish("broadcast:news", marked);
  auto o = other->read();
  REQUIRE(o);
  CHECK(o->data == marked);
}

TEST_CASE("history: resume with since replays the gap once, then live", "[gateway][history]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, kHistoryArgs));
  auto publisher = publisher_for(redis);

  std::string position;
  {
    auto client = open_ws(gateway, "/ws/chat?subscribe-broadcast&history");
    publish(publisher, "m1");
    publish(publisher, "m2");
    for (const char* expected : {"m1", "m2"}) {
      auto [id, message] = read_envelope(*client);
      CHECK(message == expected);
      position = id;
    }
  }
  publish(publisher, "m3");
  publish(publisher, "m4");
  auto client = open_ws(gateway, "/ws/chat?subscribe-broadcast&since=" + position);
  publish(publisher, "m5");
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) got.push_back(read_envelope(*client).second);
  CHECK(got == std::vector<std::string>{"m3", "m4", "m5"});
  CHECK(client->expect_no_message());

  // Without since, a client with positions gets the last entry, positioned.
  auto fresh = open_ws(gateway, "/ws/chat?subscribe-broadcast&history");
  CHECK(read_envelope(*fresh).second == "m5");
  CHECK(fresh->expect_no_message());
}

TEST_CASE("history: a position further back than the history gets reset, then live",
          "[gateway][history]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, kHistoryArgs));
  auto publisher = publisher_for(redis);
  std::string position;
  {
    auto client = open_ws(gateway, "/ws/chat?subscribe-broadcast&history");
    publish(publisher, "first");
    position = read_envelope(*client).first;
  }
  for (int i = 0; i < 6; ++i) publish(publisher, "missed-" + std::to_string(i));  // history = 5
  auto client = open_ws(gateway, "/ws/chat?subscribe-broadcast&since=" + position);
  auto notice = client->read();
  REQUIRE(notice);
  CHECK(notice->data == "reset");
  publish(publisher, "after");
  CHECK(read_envelope(*client).second == "after");
  CHECK(client->expect_no_message());
}

TEST_CASE("history: bad since and history where none is kept are refused with 400",
          "[gateway][history][bad-input]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, kHistoryArgs));
  for (const char* target :
       {"/ws/chat?subscribe-broadcast&since=abc", "/ws/chat?subscribe-broadcast&since=1-",
        "/ws/chat?subscribe-broadcast&since=", "/ws/news?subscribe-broadcast&history",
        "/ws/news?subscribe-broadcast&since=1-0"}) {
    WsClient client;
    const auto result = client.connect(gateway.port(), std::string(target));
    INFO(target << " -> " << result.status << " " << result.body);
    CHECK(result.status == 400);
  }
  // The daemon is fine.
  open_ws(gateway, "/ws/chat?subscribe-broadcast&since=1-0");
}

TEST_CASE("history: the memory engine refuses history at start-up", "[gateway][history]") {
  CHECK_THROWS(TestGateway({"--set", "history.facilities=chat=5"}));
}
