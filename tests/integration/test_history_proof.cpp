// The proof of history and resume (docs/history.md): while a publisher sends
// 10,000 numbered messages, a resuming client's connection is cut again and
// again, then the gateway is killed and restarted, then Redis (AOF on) is
// killed and restarted; the client receives every message exactly once, in
// order. Runs alone with: ctest -R 'history proof' (or the [proof] tag).
#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <wsrelay/publisher/publisher.hpp>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

constexpr int kMessages = 10000;
// ~12 s of publishing: long enough for every disruption to land mid-stream.
constexpr auto kPace = std::chrono::microseconds(1200);

}  // namespace

TEST_CASE("history proof: 10,000 messages exactly once across cuts and restarts",
          "[gateway][history][proof]") {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "everysec"});
  const std::vector<std::string> args =
      with_redis(redis, {"--set", "history.facilities=proof=20000/600", "--set",
                         "server.handshake_timeout_seconds=3", "--threads", "2"});
  auto gateway = std::make_unique<TestGateway>(args);
  const std::uint16_t port = gateway->port();

  std::atomic<bool> stop{false};
  // The publisher starts once the client's first connection is open: a
  // client without a position is owed only what comes after its open.
  std::promise<void> client_open;
  std::shared_future<void> go = client_open.get_future().share();
  std::atomic<int> published{0};
  std::atomic<int> retries{0};
  std::thread publisher([&, go] {
    go.wait();
    wsrelay::RedisEndpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = redis.port();
    wsrelay::Publisher publisher(endpoint, "", std::chrono::milliseconds(1000));
    wsrelay::PublishTarget target;
    target.facility = "proof";
    target.broadcast = true;
    const wsrelay::HistoryRule rule{"proof", 20000, 600};
    auto next = std::chrono::steady_clock::now();
    for (int n = 1; n <= kMessages && !stop; ++n) {
      std::this_thread::sleep_until(next);  // pacing, not synchronisation
      next += kPace;
      while (!stop) {
        try {
          publisher.publish(target, std::to_string(n), 0, rule);
          break;
        } catch (const wsrelay::RedisError&) {
          ++retries;  // Redis is down: the same message again once it is back
          std::this_thread::sleep_for(20ms);
        }
      }
      published = n;
    }
  });

  std::vector<int> got;
  std::string position;
  int connections = 0;
  int resets = 0;
  bool gateway_restarted = false;
  bool redis_restarted = false;
  const auto deadline = std::chrono::steady_clock::now() + 50s;
  while (static_cast<int>(got.size()) < kMessages && std::chrono::steady_clock::now() < deadline) {
    WsClient client;
    const std::string target = "/ws/proof?subscribe-broadcast&" +
                               (position.empty() ? std::string("history") : "since=" + position);
    try {
      if (client.connect(port, target, {}, 3s).status != 101) continue;
    } catch (const std::exception&) {
      continue;  // the gateway is restarting: try again
    }
    if (++connections == 1) client_open.set_value();
    // Cut the connection every 700 messages, from the client's side.
    const std::size_t cut_at = got.size() + 700;
    while (static_cast<int>(got.size()) < kMessages &&
           std::chrono::steady_clock::now() < deadline) {
      auto m = client.read(1s);
      if (!m) {
        if (!client.is_open()) break;  // closed by the gateway (1013 resume) or killed
        continue;
      }
      if (m->data == "reset") {
        ++resets;
        continue;
      }
      const auto space = m->data.find(' ');
      REQUIRE(space != std::string::npos);
      position = m->data.substr(0, space);
      got.push_back(std::stoi(m->data.substr(space + 1)));
      if (!gateway_restarted && got.size() == 4500) {
        gateway_restarted = true;
        gateway.reset();  // SIGKILL
        gateway = std::make_unique<TestGateway>([&] {
          auto again = args;
          again.insert(again.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
          return again;
        }());
        break;
      }
      if (!redis_restarted && got.size() == 7000) {
        redis_restarted = true;
        redis.stop();  // SIGKILL: the AOF keeps what Redis acknowledged
        redis.start();
        continue;  // the gateway closes this connection with 1013 to resume
      }
      if (got.size() == cut_at) break;
    }
  }
  if (connections == 0) client_open.set_value();
  stop = true;
  publisher.join();

  int first_missing = 0;
  for (int i = 0; i < static_cast<int>(got.size()) && first_missing == 0; ++i)
    if (got[i] != i + 1) first_missing = i + 1;
  INFO("first out of sequence at " << first_missing << ", restarts after 4500 and 7000");
  INFO("published " << published << ", received " << got.size() << " (last "
                    << (got.empty() ? 0 : got.back()) << ") over " << connections
                    << " connections, " << resets << " resets, " << retries
                    << " publisher retries");
  CHECK(gateway_restarted);
  CHECK(redis_restarted);
  CHECK(resets == 0);
  CHECK(retries > 0);  // the Redis outage was real: publishes failed meanwhile
  CHECK(connections >= 12);
  REQUIRE(got.size() == static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    if (got[i] != i + 1) {
      FAIL_CHECK("message " << i + 1 << " is " << got[i]);
      break;
    }
  }
}
