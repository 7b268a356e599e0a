// End-to-end tests of liveness (docs/protocol.md §5, §6): the ws4redis heartbeat,
// the idle timeout, and orderly shutdown on SIGTERM/SIGINT.
#include <csignal>

#include "helpers.hpp"

using namespace wsrelay::test;

TEST_CASE("heartbeat: answered at once and never published", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.heartbeat=--heartbeat--"}));
  RedisSync sync(redis.port());
  RedisSubscriberProbe probe(redis.port(), {"broadcast:f"});
  auto client = open_ws(gateway, "/ws/f?publish-broadcast");

  REQUIRE(client->send_text("--heartbeat--"));
  auto m = client->read(2s);  // well before the 4 s idle heartbeat
  REQUIRE(m);
  CHECK(m->data == "--heartbeat--");
  CHECK_FALSE(m->binary);

  // The next real message is the first thing published and stored.
  REQUIRE(client->send_text("after"));
  CHECK(probe.next_message(5s) == "after");
  CHECK(wait_stored(sync, "broadcast:f", "after"));
  CHECK(client->is_open());
}

TEST_CASE("heartbeat: sent on an idle connection every heartbeat_interval_seconds", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.heartbeat=--heartbeat--", "--set",
                                         "websocket.heartbeat_interval_seconds=1"}));
  auto client = open_ws(gateway, "/ws/f?subscribe-broadcast");
  for (int i = 0; i < 2; ++i) {
    INFO("heartbeat " << i);
    auto m = client->read(2500ms);
    REQUIRE(m);
    CHECK(m->data == "--heartbeat--");
  }
}

TEST_CASE("no heartbeat configured: the heartbeat string is an ordinary message", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSubscriberProbe probe(redis.port(), {"broadcast:f"});
  auto client = open_ws(gateway, "/ws/f?publish-broadcast");
  REQUIRE(client->send_text("--heartbeat--"));
  CHECK(probe.next_message(5s) == "--heartbeat--");
  CHECK(client->expect_no_message());
}

TEST_CASE("a silent connection is closed after idle_timeout_seconds, pongs keep one open",
          "[gateway]") {
  TestGateway gateway(
      {"--set", "websocket.idle_timeout_seconds=2", "--set", "websocket.ping_interval_seconds=1"});
  // Answers pings (Beast does it while a read is pending and it is pumped).
  auto answering = open_ws(gateway, "/ws/f?subscribe-broadcast");
  // Never writes a byte after its handshake: no pong, no close answer.
  RawWsClient silent;
  REQUIRE(silent.connect(gateway.port(), "/ws/f?subscribe-broadcast") == 101);

  const auto start = std::chrono::steady_clock::now();
  const bool closed = wait_until(
      [&] {
        answering->pump();
        silent.pump();
        return silent.closed();
      },
      6s);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO("elapsed ms: " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
  CHECK(closed);
  CHECK(elapsed >= 1500ms);  // not before the idle timeout (2 s)
  answering->pump();
  CHECK(answering->is_open());
  // The TCP connection is dropped too, at the latest after close_timeout.
  CHECK(silent.wait_eof(5s));
}

namespace {

// Opens clients, sends `sig`, and checks that every client gets 1001 and the
// process exits 0.
void check_orderly_shutdown(int sig) {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "shutdown.timeout_seconds=5", "--set", "shutdown.drain_seconds=1"}));
  RedisSync sync(redis.port());
  std::vector<std::unique_ptr<WsClient>> clients;
  clients.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast"));
  clients.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast&publish-broadcast"));
  clients.push_back(open_ws(gateway, "/ws/b?subscribe-session", {{"Cookie", "sessionid=s"}}));
  sync_subscription(sync, *clients[0], "broadcast:a");
  sync_subscription(sync, *clients[2], "session:s:b");

  gateway.signal(sig);
  const bool all_closed = wait_until(
      [&] {
        bool all = true;
        for (auto& c : clients) {
          c->pump();
          all = all && c->close_code().has_value();
        }
        return all;
      },
      8s);
  CHECK(all_closed);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    INFO("client " << i);
    CHECK(clients[i]->close_code() == 1001);
  }
  const auto status = gateway.wait_exit(10s);
  REQUIRE(status);
  CHECK(*status == 0);
}

}  // namespace

TEST_CASE("SIGTERM closes every connection with 1001 and exits 0", "[gateway]") {
  check_orderly_shutdown(SIGTERM);
}

TEST_CASE("SIGINT closes every connection with 1001 and exits 0", "[gateway]") {
  check_orderly_shutdown(SIGINT);
}

TEST_CASE("SIGTERM with no connection exits 0 promptly", "[gateway]") {
  TestGateway gateway;
  gateway.signal(SIGTERM);
  const auto status = gateway.wait_exit(5s);
  REQUIRE(status);
  CHECK(*status == 0);
}
