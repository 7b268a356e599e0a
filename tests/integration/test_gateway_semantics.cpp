// Regression tests of message semantics and start-up (docs/protocol.md §4, §5,
// README "Configuration"): echo suppression under a burst, the stored message
// strictly before live ones and before any heartbeat, reference-counted
// UNSUBSCRIBE, configuration errors and the memory engine's first log line.
#include <atomic>
#include <fstream>
#include <thread>

#include "probe_helpers.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;

TEST_CASE("echo off: none of a 200-message burst comes back to its sender",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto receiver = open_ws(gateway, "/ws/room?subscribe-broadcast");
  sync_subscription(sync, *receiver, "broadcast:room");
  // The sender is a RawWsClient so the whole burst leaves in one write: the
  // gateway reads all 200 before the first one can come back from Redis.
  RawWsClient sender;
  REQUIRE(sender.connect(gateway.port(), "/ws/room?subscribe-broadcast&publish-broadcast") == 101);
  int n = 0;
  REQUIRE(wait_until(
      [&] {
        sync.publish("broadcast:room", "sync-" + std::to_string(++n));
        sender.pump();
        return std::any_of(sender.frames().begin(), sender.frames().end(), is_data);
      },
      10s, 10ms));
  // Both are live; skip what they got so far.
  sync.publish("broadcast:room", "synced");
  for (auto m = receiver->read(5s); m && m->data != "synced"; m = receiver->read(5s)) {
    REQUIRE(m->data.rfind("sync-", 0) == 0);
  }
  std::optional<std::size_t> synced;
  REQUIRE(wait_until(
      [&] {
        sender.pump();
        return (synced = find_data_frame(sender.frames(), "synced")).has_value();
      },
      5s));

  constexpr int kBurst = 200;
  std::string burst;
  for (int i = 0; i < kBurst; ++i) {
    burst += RawWsClient::masked_frame(0x1, "burst-" + std::to_string(i));
  }
  REQUIRE(sender.send_raw(burst));
  for (int i = 0; i < kBurst; ++i) {
    auto m = receiver->read(5s);
    INFO("burst message " << i);
    REQUIRE(m);
    REQUIRE(m->data == "burst-" + std::to_string(i));
  }

  // Published after the burst, on the same channel: Redis's order says the
  // sender's next message is this one, unless its own burst came back.
  sync.publish("broadcast:room", "marker");
  auto m = receiver->read(5s);
  REQUIRE(m);
  CHECK(m->data == "marker");
  std::optional<std::size_t> marker;
  REQUIRE(wait_until(
      [&] {
        sender.pump();
        return (marker = find_data_frame(sender.frames(), "marker", *synced + 1)).has_value();
      },
      5s));
  int echoed = 0;
  for (std::size_t i = *synced + 1; i < *marker; ++i) echoed += is_data(sender.frames()[i]) ? 1 : 0;
  CHECK(echoed == 0);
  CHECK_FALSE(sender.closed());
}

TEST_CASE("the stored message comes before live ones published while connecting",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  // The publisher only PUBLISHes, so the stored value is "stored" throughout.
  sync.set("broadcast:r", "stored", 600);

  std::atomic<bool> stop{false};
  std::atomic<long> published{0};
  std::atomic<bool> failed{false};
  std::thread publisher([&] {
    try {
      RedisSync app(redis.port());
      for (long i = 1; !stop.load(); ++i) {
        app.publish("broadcast:r", "live-" + std::to_string(i));
        published.store(i);
        // Pacing, not synchronisation: a few thousand messages a second.
        std::this_thread::sleep_for(200us);
      }
    } catch (const std::exception&) {
      failed.store(true);
    }
  });
  struct Join {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Join() {
      stop.store(true);
      thread.join();
    }
  } join{stop, publisher};
  REQUIRE(wait_until([&] { return published.load() > 0 || failed.load(); }, 5s));

  for (int i = 0; i < 30 && !failed.load(); ++i) {
    auto client = open_ws(gateway, "/ws/r?subscribe-broadcast");
    auto first = client->read(5s);
    auto second = client->read(5s);
    INFO("iteration " << i);
    REQUIRE(first);
    CHECK(first->data == "stored");
    REQUIRE(second);  // the live stream reaches it too, after the stored value
    CHECK(second->data.rfind("live-", 0) == 0);
  }
  CHECK_FALSE(failed.load());
}

TEST_CASE("the last session leaving a channel unsubscribes it, not before",
          "[gateway][regression]") {
  RedisServer redis;
  // One shard: sessions' subscription changes reach the hub, and Redis, in
  // the order they happen.
  TestGateway gateway(with_redis(redis, {"--threads", "1"}));
  RedisSync sync(redis.port());
  auto numsub = [&](const std::string& channel) {
    return sync.command({"PUBSUB", "NUMSUB", channel}).elements.at(1).integer;
  };
  auto open_sessions = [&] { return metric_value(gateway, "wsrelay_connections_open"); };

  {
    auto only = open_ws(gateway, "/ws/f?subscribe-broadcast");
    CHECK(wait_until([&] { return numsub("broadcast:f") == 1; }, 5s));
    REQUIRE(only->close());
    CHECK(wait_until([&] { return numsub("broadcast:f") == 0; }, 5s));
  }

  auto first = open_ws(gateway, "/ws/f?subscribe-broadcast");
  auto second = open_ws(gateway, "/ws/f?subscribe-broadcast");
  sync_subscriptions(sync, {first.get(), second.get()}, "broadcast:f");
  CHECK(numsub("broadcast:f") == 1);  // one subscriber connection per gateway
  REQUIRE(first->close());
  REQUIRE(wait_until([&] { return open_sessions() == 1; }, 5s));
  // Marker: a session on another channel comes and goes. Its UNSUBSCRIBE is
  // sent after anything the first close caused, on the same connection, so
  // once Redis has done it a wrong UNSUBSCRIBE of broadcast:f would show.
  {
    auto other = open_ws(gateway, "/ws/g?subscribe-broadcast");
    REQUIRE(wait_until([&] { return numsub("broadcast:g") == 1; }, 5s));
    REQUIRE(other->close());
    REQUIRE(wait_until([&] { return numsub("broadcast:g") == 0; }, 5s));
  }
  CHECK(numsub("broadcast:f") == 1);
  sync.publish("broadcast:f", "still subscribed");
  auto m = second->read(5s);
  REQUIRE(m);
  CHECK(m->data == "still subscribed");

  REQUIRE(second->close());
  CHECK(wait_until([&] { return numsub("broadcast:f") == 0; }, 5s));
}

namespace {

struct Run {
  std::optional<int> status;
  std::string output;  // stdout and stderr
};

// Runs the daemon with `args` and waits for it to exit (killed after 10 s).
Run run_daemon(const std::vector<std::string>& args) {
  TempDir dir("wsrelay-config-test");
  std::vector<std::string> argv{WSRELAY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Process process(argv, dir.file("output"), {}, {"WSRELAY_"});
  Run run;
  run.status = process.wait_exit(10s);
  run.output = process.log_contents();
  return run;
}

}  // namespace

TEST_CASE("a bad configuration exits 2 naming the key: --check-config exits 0",
          "[gateway][regression]") {
  {
    const Run run =
        run_daemon({"--listen", "127.0.0.1:0", "--set", "websocket.max_message_bytes=abc"});
    INFO(run.output);
    REQUIRE(run.status);
    CHECK(*run.status == 2);
    CHECK(run.output.find("websocket.max_message_bytes") != std::string::npos);
  }
  {
    TempDir dir("wsrelay-config-file");
    const std::string path = dir.file("bad.toml");
    std::ofstream(path) << "# line 1\n[websocket]\nmax_mesage_bytes = 1000\n";
    const Run run = run_daemon({"--listen", "127.0.0.1:0", "--config", path});
    INFO(run.output);
    REQUIRE(run.status);
    CHECK(*run.status == 2);
    CHECK(run.output.find(path + ":3:") != std::string::npos);
    CHECK(run.output.find("max_mesage_bytes") != std::string::npos);
  }
  {
    const Run run = run_daemon({"--check-config", "--set", "websocket.max_message_bytes=abc"});
    INFO(run.output);
    REQUIRE(run.status);
    CHECK(*run.status == 2);
  }
  {
    const Run run = run_daemon({"--check-config", "--set", "websocket.heartbeat=--hb--"});
    INFO(run.output);
    REQUIRE(run.status);
    CHECK(*run.status == 0);
    CHECK(run.output.find("heartbeat = \"--hb--\"") != std::string::npos);
  }
}

TEST_CASE("the configuration --check-config prints never shows a secret", "[gateway][regression]") {
  const Run run = run_daemon({"--check-config", "--redis", "redis://app:hunter2@127.0.0.1:6379/3",
                              "--set", "auth.backends=callback", "--set",
                              "auth.callback_url=http://127.0.0.1:8000/auth?key=k3y-s3cret"});
  INFO(run.output);
  REQUIRE(run.status);
  CHECK(*run.status == 0);
  CHECK(run.output.find("url = \"redis://app:REDACTED@127.0.0.1:6379/3\"") != std::string::npos);
  CHECK(run.output.find("callback_url = \"http://127.0.0.1:8000/auth?key=REDACTED\"") !=
        std::string::npos);
  CHECK(run.output.find("hunter2") == std::string::npos);
  CHECK(run.output.find("k3y-s3cret") == std::string::npos);
}

TEST_CASE("Kubernetes' variables for a Service named wsrelay do not stop the start",
          "[gateway][regression]") {
  // Exactly what Kubernetes puts in every pod of the namespace (service
  // links) for a Service `wsrelay` with the port 8080 named http.
  const std::vector<std::string> kubernetes{"WSRELAY_SERVICE_HOST=10.96.12.34",
                                            "WSRELAY_SERVICE_PORT=8080",
                                            "WSRELAY_SERVICE_PORT_HTTP=8080",
                                            "WSRELAY_PORT=tcp://10.96.12.34:8080",
                                            "WSRELAY_PORT_8080_TCP=tcp://10.96.12.34:8080",
                                            "WSRELAY_PORT_8080_TCP_PROTO=tcp",
                                            "WSRELAY_PORT_8080_TCP_PORT=8080",
                                            "WSRELAY_PORT_8080_TCP_ADDR=10.96.12.34"};
  std::vector<std::string> env = kubernetes;
  env.push_back("WSRELAY_HEARTBEAT=--hb--");  // a real setting beside them still applies
  TestGateway gateway({}, env);
  CHECK(get_status(gateway, "/healthz") == 200);
  auto client = open_ws(gateway, "/ws/k8s?subscribe-broadcast&publish-broadcast");
  REQUIRE(client->send_text("--hb--"));
  auto answer = client->read(5s);
  REQUIRE(answer);
  CHECK(answer->data == "--hb--");
  // One warning line names every ignored variable.
  const std::string log = gateway.log();
  INFO(log);
  const auto line_start = log.find("ignoring unknown environment variables WSRELAY_PORT, ");
  REQUIRE(line_start != std::string::npos);
  const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
  for (const std::string& variable : kubernetes) {
    const std::string name = variable.substr(0, variable.find('='));
    CHECK((line.find(name + ",") != std::string::npos ||
           line.find(name + " (") != std::string::npos));
  }
  CHECK(log.find("ignoring unknown", line_start + 1) == std::string::npos);
  // A misspelt key in --set still stops the start with exit code 2.
  TempDir dir("wsrelay-k8s");
  std::vector<std::string> argv{WSRELAY_BINARY, "--listen", "127.0.0.1:0", "--set",
                                "websocket.heartbeet=x"};
  Process process(argv, dir.file("output"), kubernetes, {"WSRELAY_"});
  const auto code = process.wait_exit(10s);
  REQUIRE(code);
  CHECK(*code == 2);
  CHECK(process.log_contents().find("websocket.heartbeet: unknown key") != std::string::npos);
}

TEST_CASE("without redis the daemon's first log line names the memory engine",
          "[gateway][regression]") {
  auto first_line = [](const Gateway& gateway) {
    std::string log;
    REQUIRE(wait_until(
        [&] {
          log = gateway.log();
          return log.find('\n') != std::string::npos;
        },
        5s));
    return log.substr(0, log.find('\n'));
  };
  {
    TestGateway gateway;
    const std::string line = first_line(gateway);
    INFO("first line: " << line);
    CHECK(lowercase(line).find("memory") != std::string::npos);
  }
  {
    RedisServer redis;
    TestGateway gateway(with_redis(redis));
    const std::string line = first_line(gateway);
    INFO("first line with redis: " << line);
    CHECK(lowercase(line).find("memory") == std::string::npos);
  }
}

TEST_CASE("no heartbeat before the stored message, however long the replay takes",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.heartbeat=--heartbeat--", "--set",
                                         "websocket.heartbeat_interval_seconds=1"}));
  RedisSync sync(redis.port());
  sync.set("broadcast:f", "stored", 600);
  REQUIRE(wait_readyz(gateway, 200, 10s));

  // Redis holds every client's commands for 2.5 s: the new session's
  // SUBSCRIBE and its read of the stored value wait, so it spends more than
  // two heartbeat intervals replaying. (No command from the test until then.)
  REQUIRE(sync.command({"CLIENT", "PAUSE", "2500"}).str == "OK");
  const auto start = std::chrono::steady_clock::now();
  auto client = open_ws(gateway, "/ws/f?subscribe-broadcast");
  auto first = client->read(8s);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(first);
  CHECK(first->data == "stored");
  INFO("first message after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(elapsed >= 1500ms);  // the replay really waited for Redis

  // Heartbeats are on: one follows within an interval or so.
  auto second = client->read(3s);
  REQUIRE(second);
  CHECK(second->data == "--heartbeat--");
}

TEST_CASE("sessions leaving from the middle of a channel's list leave the others subscribed",
          "[gateway][regression]") {
  RedisServer redis;
  // One shard, so every session shares the shard's per-channel lists.
  TestGateway gateway(with_redis(redis, {"--threads", "1"}));
  RedisSync sync(redis.port());
  constexpr int count = 24;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < count; ++i) {
    // Two channels each: the broadcast one, shared by all, and one of three
    // session channels, so removals reorder several lists at once.
    clients.push_back(open_ws(gateway, "/ws/swap?subscribe-broadcast&subscribe-session",
                              {{"Cookie", "sessionid=k" + std::to_string(i % 3)}}));
  }
  std::vector<WsClient*> all;
  for (auto& c : clients) all.push_back(c.get());
  sync_subscriptions(sync, all, "broadcast:swap");

  // First, last, and from the middle, in an order that moves many slots.
  const std::vector<int> leaving{0, 23, 11, 12, 5, 1, 22, 7, 18, 3};
  for (int i : leaving) {
    REQUIRE(clients[static_cast<std::size_t>(i)]->close());
    clients[static_cast<std::size_t>(i)].reset();
  }
  const auto remaining = static_cast<long long>(count - leaving.size());
  REQUIRE(wait_until([&] { return metric_value(gateway, "wsrelay_connections_open") == remaining; },
                     5s));

  CHECK(sync.publish("broadcast:swap", "to-all") == 1);
  for (int k = 0; k < 3; ++k)
    sync.publish("session:k" + std::to_string(k) + ":swap", "to-k" + std::to_string(k));
  for (int i = 0; i < count; ++i) {
    if (!clients[static_cast<std::size_t>(i)]) continue;
    INFO("client " << i);
    auto first = clients[static_cast<std::size_t>(i)]->read(5s);
    auto second = clients[static_cast<std::size_t>(i)]->read(5s);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first->data == "to-all");
    CHECK(second->data == "to-k" + std::to_string(i % 3));
  }
  clients.clear();
  CHECK(wait_until(
      [&] {
        return sync.command({"PUBSUB", "NUMSUB", "broadcast:swap"}).elements.at(1).integer == 0;
      },
      5s));
}
