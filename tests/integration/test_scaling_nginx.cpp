// nginx with config/nginx/wsrelay.conf in front of three gateways on one
// Redis (docs/scaling.md): the upstream's commented server lines filled in,
// nothing else changed. Which gateway holds a client is read from each
// gateway's wsrelay_connections_open.
#include <array>
#include <csignal>
#include <optional>

#include "nginx_helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

namespace {

struct Upstream {
  explicit Upstream(const RedisServer& redis, const std::vector<std::string>& args = {}) {
    for (auto& gateway : gateways) gateway = std::make_unique<TestGateway>(with_redis(redis, args));
  }
  std::vector<std::uint16_t> ports() const {
    return {gateways[0]->port(), gateways[1]->port(), gateways[2]->port()};
  }
  // The open WebSockets of each gateway (0 for a stopped one, -1 when its
  // /metrics did not answer).
  std::vector<long long> held() {
    std::vector<long long> counts;
    for (auto& gateway : gateways)
      counts.push_back(
          gateway->running() ? metric_value(*gateway, "wsrelay_connections_open").value_or(-1) : 0);
    return counts;
  }
  // Waits until held() is `expected`; false (with what they hold in the
  // test's output) after `timeout`.
  bool wait_held(const std::vector<long long>& expected, std::chrono::milliseconds timeout = 5s) {
    std::vector<long long> counts;
    const bool done = wait_until([&] { return (counts = held()) == expected; }, timeout, 20ms);
    UNSCOPED_INFO("open WebSockets per gateway: " << counts[0] << " " << counts[1] << " "
                                                  << counts[2]);
    return done;
  }
  std::array<std::unique_ptr<TestGateway>, 3> gateways;
};

// Opens a client through nginx and returns it with the index of the gateway
// that took it: the one whose count went up by one.
std::pair<std::unique_ptr<WsClient>, std::size_t> open_tracked(const Nginx& nginx,
                                                               Upstream& upstream) {
  const std::vector<long long> before = upstream.held();
  auto client = open_through(nginx, "/ws/news?subscribe-broadcast");
  std::optional<std::size_t> landed;
  const bool seen = wait_until(
      [&] {
        const std::vector<long long> now = upstream.held();
        for (std::size_t g = 0; g < now.size(); ++g)
          if (now[g] == before[g] + 1) landed = g;
        return landed.has_value();
      },
      5s, 10ms);
  REQUIRE(seen);
  return {std::move(client), *landed};
}

// Six clients through nginx; REQUIREs that each gateway holds two.
std::vector<std::unique_ptr<WsClient>> open_two_each(const Nginx& nginx, Upstream& upstream) {
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 6; ++i)
    clients.push_back(open_through(nginx, "/ws/news?subscribe-broadcast"));
  REQUIRE(upstream.wait_held({2, 2, 2}));
  return clients;
}

// Every client reads `message` once.
void expect_each_gets(const std::vector<std::unique_ptr<WsClient>>& clients,
                      const std::string& message) {
  for (std::size_t i = 0; i < clients.size(); ++i) {
    INFO("client " << i);
    auto m = clients[i]->read(5s);
    REQUIRE(m);
    CHECK(m->data == message);
  }
  for (auto& client : clients) CHECK(client->expect_no_message(100ms));
}

}  // namespace

TEST_CASE(
    "nginx with three gateways: clients are spread over all three and a message published "
    "once reaches every one",
    "[nginx][scaling]") {
  RedisServer redis;
  Upstream upstream(redis);
  Nginx nginx(upstream.ports());
  RedisSync sync(redis.port());
  auto clients = open_two_each(nginx, upstream);
  CHECK(sync.publish("broadcast:news", "once") == 3);  // one subscriber connection per gateway
  expect_each_gets(clients, "once");
}

TEST_CASE(
    "nginx with three gateways: least_conn sends new WebSockets to the gateway holding the "
    "fewest",
    "[nginx][scaling]") {
  RedisServer redis;
  Upstream upstream(redis);
  Nginx nginx(upstream.ports());
  std::vector<std::unique_ptr<WsClient>> clients;
  std::vector<std::size_t> gateway_of;
  for (int i = 0; i < 6; ++i) {
    auto [client, g] = open_tracked(nginx, upstream);
    clients.push_back(std::move(client));
    gateway_of.push_back(g);
  }
  REQUIRE(upstream.wait_held({2, 2, 2}));
  // The clients of one gateway leave (as after its restart): the next two
  // connections both go to it, where round robin would go on rotating over
  // all three and leave it half empty.
  const std::size_t emptied = gateway_of.back() == 0 ? 1 : 0;
  for (std::size_t i = 0; i < clients.size(); ++i)
    if (gateway_of[i] == emptied) REQUIRE(clients[i]->close());
  std::vector<long long> expected{2, 2, 2};
  expected[emptied] = 0;
  REQUIRE(upstream.wait_held(expected));
  for (int i = 0; i < 2; ++i) {
    auto [client, g] = open_tracked(nginx, upstream);
    CHECK(g == emptied);
    clients.push_back(std::move(client));
  }
}

TEST_CASE(
    "nginx with three gateways: SIGTERM closes one gateway's clients with 1001 and they "
    "reconnect through nginx to the live ones",
    "[nginx][scaling]") {
  RedisServer redis;
  Upstream upstream(redis, {"--set", "shutdown.drain_seconds=1"});
  Nginx nginx(upstream.ports());
  RedisSync sync(redis.port());
  auto clients = open_two_each(nginx, upstream);
  sync.publish("broadcast:news", "before");
  expect_each_gets(clients, "before");

  upstream.gateways[0]->signal(SIGTERM);
  // Its two clients get 1001 through nginx and reconnect at once, as the
  // JavaScript client does, while it may still be draining: its listener is
  // closed, nginx's connect is refused and it tries the next gateway.
  std::size_t reconnected = 0;
  const bool all_closed = wait_until(
      [&] {
        for (auto& client : clients) {
          client->pump();
          const auto code = client->close_code();
          if (!code) continue;
          CHECK(*code == 1001);
          client = open_through(nginx, "/ws/news?subscribe-broadcast");
          ++reconnected;
        }
        return reconnected == 2;
      },
      10s, 10ms);
  REQUIRE(all_closed);
  CHECK(upstream.gateways[0]->wait_exit(15s) == 0);
  CHECK(upstream.wait_held({0, 3, 3}));
  CHECK(sync.publish("broadcast:news", "after") == 2);
  expect_each_gets(clients, "after");
  // And new connections keep landing on the live ones.
  auto [late, g] = open_tracked(nginx, upstream);
  CHECK(g != 0);
}
