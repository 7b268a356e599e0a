// Shutdown drain (issue 4, "Shutdown"): on SIGTERM the listener closes at
// once, sessions are closed with 1001 spread evenly over
// shutdown.drain_seconds, client publishes already accepted reach Redis
// before the process exits 0, and shutdown.timeout_seconds is a hard
// deadline (exit 4, with a log line naming what was abandoned).
#include <signal.h>

#include <algorithm>

#include "helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

using Clock = std::chrono::steady_clock;

// Pumps every client until each has a close code or `timeout` passes, and
// returns, per client, when its close was first seen (nullopt: none).
std::vector<std::optional<Clock::time_point>> wait_closes(
    std::vector<std::unique_ptr<WsClient>>& clients, std::chrono::milliseconds timeout) {
  std::vector<std::optional<Clock::time_point>> closed_at(clients.size());
  wait_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < clients.size(); ++i) {
          if (closed_at[i]) continue;
          clients[i]->pump();
          if (clients[i]->close_code()) {
            closed_at[i] = Clock::now();
          } else {
            all = false;
          }
        }
        return all;
      },
      timeout, 1ms);
  return closed_at;
}

bool connection_refused(std::uint16_t port) {
  RawWsClient client;
  try {
    client.connect_tcp(port, 2s);
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

// Freezes Redis (SIGSTOP; the caller sends SIGCONT), then has `publisher`
// send `text` and waits until the gateway holds it unanswered.
void publish_to_frozen_redis(const Gateway& gateway, const RedisServer& redis, WsClient& publisher,
                             const std::string& text) {
  ::kill(redis.pid(), SIGSTOP);
  REQUIRE(publisher.send_text(text));
  REQUIRE(wait_until(
      [&] {
        return http_get(gateway.port(), "/metrics").body.find("wsrelay_redis_pending_messages 1") !=
               std::string::npos;
      },
      5s));
}

}  // namespace

TEST_CASE("drain: 200 clients get 1001 spread over the window, accepted publishes reach Redis",
          "[gateway][drain]") {
  constexpr int kClients = 200;
  constexpr auto kWindow = 2s;
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "shutdown.drain_seconds=2", "--set", "shutdown.timeout_seconds=8"}));
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i)
    clients.push_back(open_ws(gateway, "/ws/d" + std::to_string(i % 10) + "?subscribe-broadcast"));
  auto publisher = open_ws(gateway, "/ws/last?publish-broadcast");
  RedisSubscriberProbe probe(redis.port(), {"broadcast:last"});
  RedisSync sync(redis.port());
  sync_subscription(sync, *clients[0], "broadcast:d0");

  // Redis frozen: the publish below is accepted by the gateway but cannot be
  // answered, so the process must still be waiting for it when every session
  // is gone.
  publish_to_frozen_redis(gateway, redis, *publisher, "last words");
  const auto signalled = Clock::now();
  gateway.signal(SIGTERM);

  clients.push_back(std::move(publisher));
  auto closed_at = wait_closes(clients, 8s);
  // The listener closed before the first session was closed.
  CHECK(connection_refused(gateway.port()));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    INFO("client " << i);
    REQUIRE(closed_at[i]);
    CHECK(clients[i]->close_code() == 1001);
  }
  closed_at.pop_back();  // the publisher's close is not part of the spread

  // Spread: the closes cover at least half the window, and no tenth of the
  // window holds more than twice its fair share.
  const auto [first, last] = std::minmax_element(closed_at.begin(), closed_at.end());
  const auto span = **last - **first;
  INFO("span ms " << std::chrono::duration_cast<std::chrono::milliseconds>(span).count());
  CHECK(span >= kWindow / 2);
  std::array<int, 10> per_tenth{};
  for (const auto& t : closed_at) {
    const auto offset = *t - signalled;
    const auto bin = std::min<long>(9, offset * 10 / kWindow);
    ++per_tenth[static_cast<std::size_t>(std::max<long>(0, bin))];
  }
  for (std::size_t b = 0; b < per_tenth.size(); ++b) {
    INFO("tenth " << b << ": " << per_tenth[b] << " closes");
    CHECK(per_tenth[b] <= 2 * kClients / 10);
  }

  // Every session is gone, but the accepted publish is not answered yet.
  CHECK_FALSE(gateway.wait_exit(300ms).has_value());
  ::kill(redis.pid(), SIGCONT);
  const auto seen = probe.next_message(5s);
  REQUIRE(seen);
  CHECK(*seen == "last words");
  const auto status = gateway.wait_exit(8s);
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(Clock::now() - signalled < 8s);
}

TEST_CASE("drain: at shutdown.timeout_seconds the process stops anyway and exits 4",
          "[gateway][drain]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "shutdown.drain_seconds=0", "--set", "shutdown.timeout_seconds=2"}));
  auto publisher = open_ws(gateway, "/ws/stuck?publish-broadcast");
  publish_to_frozen_redis(gateway, redis, *publisher, "never answered");
  const auto signalled = Clock::now();
  gateway.signal(SIGTERM);
  CHECK(publisher->wait_close(3s) == 1001);
  const auto status = gateway.wait_exit(6s);
  ::kill(redis.pid(), SIGCONT);
  REQUIRE(status);
  CHECK(*status == 4);  // exit_code::forced_stop
  CHECK(Clock::now() - signalled >= 1900ms);
  CHECK(gateway.log().find("1 client publish(es) not confirmed by Redis") != std::string::npos);
}

TEST_CASE("drain: /readyz and new upgrades on connections accepted before SIGTERM get 503",
          "[gateway][drain]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "shutdown.drain_seconds=3", "--set", "shutdown.timeout_seconds=6"}));
  // Two connections accepted before the signal, their requests sent after.
  RawWsClient probe;
  probe.connect_tcp(gateway.port());
  RawWsClient upgrade;
  upgrade.connect_tcp(gateway.port());
  // Keeps the drain running (its close comes somewhere in the window).
  auto holder = open_ws(gateway, "/ws/hold?subscribe-broadcast");
  gateway.signal(SIGTERM);
  REQUIRE(wait_until([&] { return connection_refused(gateway.port()); }, 5s, 20ms));

  REQUIRE(probe.send_raw("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto ready = probe.wait_http_response(3s);
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(ready->body == "draining\n");
  REQUIRE(upgrade.send_raw(SilentWsSocket::upgrade_request(gateway.port(), "/ws/late")));
  const auto late = upgrade.wait_http_response(3s);
  REQUIRE(late);
  CHECK(late->status == 503);
  CHECK(holder->wait_close(5s) == 1001);
  const auto status = gateway.wait_exit(8s);
  REQUIRE(status);
  CHECK(*status == 0);
}

// The drain is a countdown, not a poll and not the window: when the last
// session goes (here the clients close first, long before their turn in a
// 30 s window), the process exits at once.
TEST_CASE("drain: the process exits as soon as the last session has closed", "[gateway][drain]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--threads", "2", "--set", "shutdown.drain_seconds=30",
                                         "--set", "shutdown.timeout_seconds=60"}));
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 4; ++i)
    clients.push_back(open_ws(gateway, "/ws/quick" + std::to_string(i) + "?subscribe-broadcast"));
  gateway.signal(SIGTERM);
  REQUIRE(wait_until([&] { return connection_refused(gateway.port()); }, 5s, 5ms));
  for (auto& client : clients) client->close(1000);
  const auto last_closed = Clock::now();
  const auto status = gateway.wait_exit(10s);
  const auto exit_took = Clock::now() - last_closed;
  REQUIRE(status);
  CHECK(*status == 0);
  INFO("exit ms after the last close: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(exit_took).count());
  CHECK(exit_took < 2s);
  CHECK(gateway.log().find("drain: every session closed") != std::string::npos);
}
