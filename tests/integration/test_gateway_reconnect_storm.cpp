// Reconnect storm (issue 4, "1000 clients reconnecting at once"): a drained
// gateway's clients all come back at the same instant to the next instance
// on the same port. Every handshake must succeed (the listen backlog holds
// them, nothing is answered 503) and every client must receive what is
// published afterwards.
#include <signal.h>
#include <sys/resource.h>

#include "helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

constexpr int kClients = 1000;

// This process holds every client socket, and the gateway as many again.
void ensure_descriptors(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= wanted) return;
  INFO("RLIMIT_NOFILE hard limit " << limit.rlim_max << " is below " << wanted);
  REQUIRE(limit.rlim_max >= wanted);
  limit.rlim_cur = wanted;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

// Opens every connection and sends every upgrade request before reading a
// single answer: the handshakes are all in flight together. Returns the
// HTTP status of each.
std::vector<int> connect_all(std::vector<std::unique_ptr<SilentWsSocket>>& clients,
                             std::uint16_t port, const std::string& target) {
  clients.clear();
  const std::string request = SilentWsSocket::upgrade_request(port, target);
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<SilentWsSocket>());
    clients.back()->open(port);
  }
  for (auto& client : clients) client->send_all(request);
  std::vector<int> statuses;
  for (auto& client : clients) statuses.push_back(client->read_handshake(20s));
  return statuses;
}

bool has_close_code(const SilentWsSocket& client, std::uint16_t code) {
  for (const RawFrame& frame : client.frames()) {
    if (frame.opcode != 0x8 || frame.payload.size() < 2) continue;
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(frame.payload[0]) << 8) |
                                      static_cast<std::uint8_t>(frame.payload[1])) == code;
  }
  return false;
}

}  // namespace

TEST_CASE("reconnect storm: 1000 drained clients reconnect at once to the next instance",
          "[gateway][storm]") {
  ensure_descriptors(4 * kClients);
  RedisServer redis;
  std::vector<std::unique_ptr<SilentWsSocket>> clients;
  const std::string target = "/ws/storm?subscribe-broadcast";
  std::uint16_t port = 0;
  {
    TestGateway first(with_redis(
        redis, {"--set", "shutdown.drain_seconds=1", "--set", "shutdown.timeout_seconds=5", "--set",
                "websocket.close_timeout_seconds=1"}));
    port = first.port();
    const auto statuses = connect_all(clients, port, target);
    REQUIRE(std::count(statuses.begin(), statuses.end(), 101) == kClients);
    first.signal(SIGTERM);
    for (std::size_t i = 0; i < clients.size(); ++i) {
      INFO("client " << i);
      REQUIRE(clients[i]->read_until_eof(10s));
      CHECK(has_close_code(*clients[i], 1001));
    }
    const auto status = first.wait_exit(10s);
    REQUIRE(status);
    CHECK(*status == 0);
  }

  TestGateway next(with_redis(redis, {"--listen", "127.0.0.1:" + std::to_string(port)}));
  REQUIRE(next.port() == port);
  const auto start = std::chrono::steady_clock::now();
  const auto statuses = connect_all(clients, port, target);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("1000 concurrent handshakes took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(std::count(statuses.begin(), statuses.end(), 101) == kClients);
  CHECK(std::count(statuses.begin(), statuses.end(), 503) == 0);

  // Published after the reconnect: each client gets one of these once its
  // subscription is live, which must happen for all of them.
  RedisSync app(redis.port());
  int published = 0;
  std::vector<bool> got(clients.size(), false);
  const bool all = wait_until(
      [&] {
        app.publish("broadcast:storm", "after-" + std::to_string(++published));
        bool every = true;
        for (std::size_t i = 0; i < clients.size(); ++i) {
          if (!got[i]) got[i] = clients[i]->read_available() > 0;
          every = every && got[i];
        }
        return every;
      },
      20s, 20ms);
  INFO(std::count(got.begin(), got.end(), true) << " of " << kClients << " got a message");
  CHECK(all);
  for (auto& client : clients) {
    for (const RawFrame& frame : client->frames()) {
      CHECK(frame.opcode == 0x1);
      CHECK(frame.payload.rfind("after-", 0) == 0);
    }
  }
}
