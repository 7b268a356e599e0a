// End-to-end tests of the "last message" (docs/protocol.md §4): right after a
// connection opens, the stored value of each subscribed channel comes first,
// exactly once, even while a publisher is racing the replay.
#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "helpers.hpp"

using namespace wsrelay::test;

TEST_CASE("the stored message is sent first on every subscribed channel", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  // What ws4redis's publisher does: SETEX beside the PUBLISH.
  sync.set("broadcast:news", "stored broadcast", 60);
  sync.set("session:s1:news", "stored session", 60);
  sync.set("broadcast:other", "not mine", 60);

  auto client = open_ws(gateway, "/ws/news?subscribe-broadcast&subscribe-session",
                        {{"Cookie", "sessionid=s1"}});
  std::multiset<std::string> replayed;
  for (int i = 0; i < 2; ++i) {
    auto m = client->read();
    REQUIRE(m);
    replayed.insert(m->data);
  }
  CHECK(replayed == std::multiset<std::string>{"stored broadcast", "stored session"});
  CHECK(client->expect_no_message());

  // Live messages follow.
  sync.publish("broadcast:news", "live");
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "live");
}

TEST_CASE("no stored message, no subscription: nothing is replayed", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  sync.set("broadcast:stored", "x", 60);

  auto empty_channel = open_ws(gateway, "/ws/empty?subscribe-broadcast");
  auto publish_only = open_ws(gateway, "/ws/stored?publish-broadcast");
  CHECK(empty_channel->expect_no_message());
  // Positive controls: the first thing the subscriber gets is a live
  // message, and a subscriber of the stored channel does get its value.
  int n = 0;
  std::optional<Received> first;
  REQUIRE(wait_until(
      [&] {
        sync.publish("broadcast:empty", "live-" + std::to_string(++n));
        return (first = empty_channel->read(20ms)).has_value();
      },
      10s));
  CHECK(first->data.rfind("live-", 0) == 0);
  auto subscriber = open_ws(gateway, "/ws/stored?subscribe-broadcast");
  auto stored = subscriber->read();
  REQUIRE(stored);
  CHECK(stored->data == "x");
  CHECK(publish_only->expect_no_message(50ms));
}

TEST_CASE("a message published through the gateway is replayed to later subscribers", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSubscriberProbe probe(redis.port(), {"broadcast:news"});
  {
    auto sender = open_ws(gateway, "/ws/news?publish-broadcast");
    REQUIRE(sender->send_text("kept"));
    REQUIRE(probe.next_message(5s) == "kept");
  }
  auto late = open_ws(gateway, "/ws/news?subscribe-broadcast");
  auto m = late->read();
  REQUIRE(m);
  CHECK(m->data == "kept");
  CHECK(late->expect_no_message());
}

namespace {

// What one client saw of a stream of increasing counters.
std::vector<long> read_counters(WsClient& client, std::size_t count) {
  std::vector<long> seen;
  while (seen.size() < count) {
    auto m = client.read(5s);
    if (!m) break;
    seen.push_back(std::stol(m->data));
  }
  return seen;
}

std::string describe(const std::vector<long>& seen) {
  std::string text;
  for (long v : seen) text += std::to_string(v) + " ";
  return text;
}

enum class Order {
  // Nothing older after something newer, no duplicate: what a publisher that
  // PUBLISHes before it stores (ws4redis's order, and the gateway's own) gets.
  strict,
  // A publisher that stores before it PUBLISHes can have its stored value
  // read before its PUBLISH runs: the replayed value is then newer than live
  // messages already on their way. Still no duplicate, and everything after
  // the replayed value is in order.
  replay_may_lead,
};

// Connects `iterations` clients one after the other while `publish(n)` runs
// with n = 1, 2, 3... on another thread; each client must see the sequence
// `order` promises.
void check_replay_race(const Gateway& gateway, const std::function<void(long)>& publish,
                       const std::function<void()>& publisher_setup, Order order = Order::strict) {
  std::atomic<bool> stop{false};
  std::atomic<long> published{0};
  std::atomic<bool> failed{false};
  std::string publisher_error;  // written before `failed`, read after join()
  std::thread publisher([&] {
    try {
      publisher_setup();
      for (long n = 1; !stop.load(); ++n) {
        publish(n);
        published.store(n);
        // Pacing, not synchronisation: keeps the stream at a few thousand
        // messages a second so each client sees a short sequence.
        std::this_thread::sleep_for(200us);
      }
    } catch (const std::exception& e) {
      publisher_error = e.what();
      failed.store(true);
    }
  });
  // Stops and joins the publisher however this function is left.
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    void join() {
      stop.store(true);
      if (thread.joinable()) thread.join();
    }
    ~Joiner() { join(); }
  } joiner{stop, publisher};

  REQUIRE(wait_until([&] { return published.load() > 0 || failed.load(); }, 5s));
  for (int i = 0; i < 40 && !failed.load(); ++i) {
    auto client = open_ws(gateway, "/ws/race?subscribe-broadcast");
    const std::vector<long> seen = read_counters(*client, 5);
    INFO("iteration " << i << ", received: " << describe(seen));
    REQUIRE(seen.size() == 5);
    std::size_t first_ordered = order == Order::strict ? 0 : 1;
    for (std::size_t k = first_ordered + 1; k < seen.size(); ++k) REQUIRE(seen[k] > seen[k - 1]);
    for (std::size_t k = 1; k < seen.size(); ++k) REQUIRE(seen[k] != seen[0]);
  }
  joiner.join();
  INFO("publisher: " << publisher_error);
  REQUIRE_FALSE(failed.load());
}

}  // namespace

TEST_CASE("last message replay races live publishes without duplicates (PUBLISH+SET)",
          "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  std::unique_ptr<RedisSync> app;
  // ws4redis's publisher order: PUBLISH, then SETEX.
  check_replay_race(
      gateway,
      [&](long n) {
        app->publish("broadcast:race", std::to_string(n));
        app->set("broadcast:race", std::to_string(n), 60);
      },
      [&] { app = std::make_unique<RedisSync>(redis.port()); });
}

TEST_CASE("last message replay races live publishes without duplicates (SET+PUBLISH)",
          "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  std::unique_ptr<RedisSync> app;
  check_replay_race(
      gateway,
      [&](long n) {
        app->set("broadcast:race", std::to_string(n), 60);
        app->publish("broadcast:race", std::to_string(n));
      },
      [&] { app = std::make_unique<RedisSync>(redis.port()); }, Order::replay_may_lead);
}

TEST_CASE("last message replay races a browser publishing through the gateway", "[gateway]") {
  RedisServer redis;
  // The browser sends thousands of messages a second: far over the default
  // publish_rate, which this test is not about.
  TestGateway gateway(with_redis(redis, {"--set", "websocket.publish_rate=0"}));
  std::unique_ptr<WsClient> sender;
  check_replay_race(
      gateway,
      [&](long n) {
        if (!sender->send_text(std::to_string(n))) throw std::runtime_error("send failed");
      },
      [&] {
        sender = std::make_unique<WsClient>();
        if (sender->connect(gateway.port(), "/ws/race?publish-broadcast").status != 101) {
          throw std::runtime_error("sender handshake failed");
        }
      });
}
