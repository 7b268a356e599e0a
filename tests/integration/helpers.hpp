#pragma once
// Shared pieces of the gateway's end-to-end tests: the daemon under test
// (WSRELAY_BINARY, defined only for this target), opening clients, and
// waiting until a subscription is live without sleeping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "support/gateway.hpp"
#include "support/http_client.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/raw_ws_client.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"
#include "support/ws_client.hpp"

namespace wsrelay::test {

// Gateways alive right now; a failing assertion prints their logs
// (log_on_failure.cpp).
std::vector<const Gateway*>& live_gateways();

class TestGateway : public Gateway {
 public:
  explicit TestGateway(std::vector<std::string> args = {}, std::vector<std::string> env = {},
                       std::vector<std::string> launcher = {})
      : Gateway(WSRELAY_BINARY, std::move(args), std::move(env), std::move(launcher)) {
    live_gateways().push_back(this);
  }
  ~TestGateway() {
    auto& live = live_gateways();
    std::erase(live, static_cast<const Gateway*>(this));
  }
};

// {"--redis", redis.url()} followed by `more`.
inline std::vector<std::string> with_redis(const RedisServer& redis,
                                           std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--redis", redis.url()};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Opens a WebSocket and REQUIREs the 101.
inline std::unique_ptr<WsClient> open_ws(const Gateway& gateway, const std::string& target,
                                         const Headers& headers = {}) {
  auto client = std::make_unique<WsClient>();
  const HandshakeResult result = client->connect(gateway.port(), target, headers);
  INFO("handshake " << target << " -> " << result.status << " " << result.body);
  REQUIRE(result.status == 101);
  REQUIRE(client->is_open());
  return client;
}

// Starts the daemon with each case's flags (and no WSRELAY_* variable of the
// test's environment); each must stop with exit code 2 and a line holding
// the case's message.
inline void expect_config_refused(
    const std::vector<std::pair<std::vector<std::string>, std::string>>& cases) {
  for (const auto& [args, message] : cases) {
    TempDir dir("wsrelay-config");
    std::vector<std::string> argv{WSRELAY_BINARY, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(argv, dir.file("output"), {}, {"WSRELAY_"});
    auto code = process.wait_exit(10s);
    INFO(process.log_contents());
    REQUIRE(code);
    CHECK(*code == 2);
    CHECK(process.log_contents().find(message) != std::string::npos);
  }
}

// Status of GET `target`, 0 when the request failed.
inline int get_status(const Gateway& gateway, const std::string& target) {
  try {
    return http_get(gateway.port(), target, {}, 2s).status;
  } catch (const std::exception&) {
    return 0;
  }
}

// Waits until /readyz answers `status`.
inline bool wait_readyz(const Gateway& gateway, int status, std::chrono::milliseconds timeout) {
  return wait_until([&] { return get_status(gateway, "/readyz") == status; }, timeout, 20ms);
}

// Makes sure every client in `clients` receives what is PUBLISHed on
// `channel` from now on: publishes "sync-<round>-<n>" until each got one,
// then reads each up to the last one sent, so none keeps a sync message
// queued. Sync messages of earlier rounds still queued are skipped too. All
// clients subscribed to `channel` must take part, or they keep sync
// messages queued. REQUIREs success within `timeout`.
inline void sync_subscriptions(RedisSync& redis, const std::vector<WsClient*>& clients,
                               const std::string& channel,
                               std::chrono::milliseconds timeout = 10s) {
  static int round = 0;
  const std::string tag = "sync-" + std::to_string(++round) + "-";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int sent = 0;
  std::vector<bool> got(clients.size(), false);
  std::vector<std::string> seen(clients.size());  // the last sync message each one read
  auto all = [&] { return std::find(got.begin(), got.end(), false) == got.end(); };
  while (!all() && std::chrono::steady_clock::now() < deadline) {
    redis.publish(channel, tag + std::to_string(++sent));
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (got[i]) continue;
      std::optional<Received> m = clients[i]->read(20ms);
      if (!m) continue;
      INFO("unexpected message while syncing on " << channel << ": " << m->data);
      REQUIRE(m->data.rfind("sync-", 0) == 0);
      got[i] = m->data.rfind(tag, 0) == 0;
      seen[i] = m->data;
    }
  }
  {
    INFO("no sync message on " << channel << " for some client");
    REQUIRE(all());
  }
  const std::string last = tag + std::to_string(sent);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    while (seen[i] != last) {
      std::optional<Received> m = clients[i]->read(5s);
      INFO("syncing on " << channel << ": waiting for " << last << " after " << seen[i]);
      REQUIRE(m);
      INFO("unexpected message while syncing on " << channel << ": " << m->data);
      REQUIRE(m->data.rfind("sync-", 0) == 0);
      seen[i] = m->data;
    }
  }
}

// With websocket.heartbeat set, a connection receives it once as soon as it
// is open (after any stored message), as ws4redis did.
inline void expect_heartbeat_at_open(WsClient& client,
                                     const std::string& heartbeat = "--heartbeat--") {
  auto first = client.read(5s);
  REQUIRE(first);
  CHECK(first->data == heartbeat);
}

inline void sync_subscription(RedisSync& redis, WsClient& client, const std::string& channel,
                              std::chrono::milliseconds timeout = 10s) {
  sync_subscriptions(redis, {&client}, channel, timeout);
}

// Every <prefix>1..<prefix>N in order as a subsequence (at least once: a
// publish in flight when a connection dropped is sent again).
inline int in_order_through(const std::vector<std::string>& got, const std::string& prefix) {
  int next = 1;
  for (const auto& payload : got)
    if (payload == prefix + std::to_string(next)) ++next;
  return next - 1;
}

// Reads onto `got` until `prefix`1..N are in it in order (or 20 s passed).
inline void read_more(WsClient& client, const std::string& prefix, int n,
                      std::vector<std::string>& got) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (in_order_through(got, prefix) < n && std::chrono::steady_clock::now() < deadline)
    if (auto m = client.read(200ms)) got.push_back(m->data);
}

inline std::vector<std::string> read_through(WsClient& client, const std::string& prefix, int n) {
  std::vector<std::string> got;
  read_more(client, prefix, n, got);
  return got;
}

// Waits until GET `key` is `value`: the gateway's SET follows its PUBLISH, so
// having seen the PUBLISH does not mean the SET is done.
inline bool wait_stored(RedisSync& redis, const std::string& key, const std::string& value,
                        std::chrono::milliseconds timeout = 5s) {
  return wait_until([&] { return redis.get(key) == value; }, timeout, 5ms);
}

inline std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace wsrelay::test
