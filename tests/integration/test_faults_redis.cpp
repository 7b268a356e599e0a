// Redis fault injection (issue 4, "Prove it"): a real redis-server is killed,
// has its pub/sub connection killed, sleeps, or is frozen, while a browser is
// connected. Each time delivery to that browser must resume promptly once
// Redis answers again, /readyz must say 503 while the gateway knows the link
// is down, and what browsers publish meanwhile must reach Redis in order.
//
// The gateway runs with its default reconnect backoff: the bounds below are
// what an operator gets without tuning.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

namespace {

using Clock = std::chrono::steady_clock;

// Delivery to a connected browser resumes within this long after Redis
// answers again (issue 4).
constexpr std::chrono::milliseconds kResumeBound{1000};

const std::vector<std::string> kRedisArgs{"--enable-debug-command", "yes"};

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Publishes "<tag>-<n>" on `channel` (connecting to Redis again as needed)
// until `client` receives one of them, and returns the time from `start` to
// that first delivery; nullopt after `timeout`. Then publishes "<tag>-end"
// and reads up to it, REQUIRing that everything in between is ours and in
// publishing order, so nothing is left queued for the rest of the test.
std::optional<std::chrono::milliseconds> time_to_delivery(
    std::uint16_t redis_port, WsClient& client, const std::string& channel, const std::string& tag,
    Clock::time_point start, std::chrono::milliseconds timeout = 10s) {
  const std::string prefix = tag + "-";
  auto number_of = [&](const std::string& data) {
    INFO("unexpected message while waiting for " << prefix << "*: " << data);
    REQUIRE(data.rfind(prefix, 0) == 0);
    return std::stoi(data.substr(prefix.size()));
  };
  std::unique_ptr<RedisSync> app;
  int sent = 0;
  int last_seen = 0;
  std::optional<std::chrono::milliseconds> took;
  wait_until(
      [&] {
        try {
          if (!app) app = std::make_unique<RedisSync>(redis_port, 500ms);
          app->publish(channel, prefix + std::to_string(++sent));
        } catch (const std::exception&) {
          app.reset();  // Redis not answering yet
          return false;
        }
        std::optional<Received> m = client.read(10ms);
        if (!m) return false;
        took = since(start);
        last_seen = number_of(m->data);
        return true;
      },
      timeout, 1ms);
  if (!took) return std::nullopt;
  app->publish(channel, prefix + "end");
  for (;;) {
    std::optional<Received> m = client.read(5s);
    INFO("waiting for " << prefix << "end after " << prefix << last_seen);
    REQUIRE(m);
    if (m->data == prefix + "end") break;
    const int n = number_of(m->data);
    CHECK(n > last_seen);  // Redis's order per channel
    last_seen = n;
  }
  return took;
}

// Opens `target` and makes sure its subscription to `channel` is live.
std::unique_ptr<WsClient> open_synced(const TestGateway& gateway, const RedisServer& redis,
                                      const std::string& target, const std::string& channel) {
  auto client = open_ws(gateway, target);
  RedisSync sync(redis.port());
  sync_subscription(sync, *client, channel);
  return client;
}

// The state letter of a process in /proc (R, S, T for stopped, ...).
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

}  // namespace

TEST_CASE("redis faults: kill -9 and restart on the same port", "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/live?subscribe-broadcast", "broadcast:live");

  for (int round = 1; round <= 2; ++round) {
    INFO("round " << round);
    redis.stop();  // SIGKILL
    CHECK(wait_readyz(gateway, 503, 5s));
    CHECK(get_status(gateway, "/healthz") == 200);
    client->pump();
    CHECK(client->is_open());

    redis.start();  // returns once the new server answers PING
    const auto answering = Clock::now();
    const auto took = time_to_delivery(redis.port(), *client, "broadcast:live",
                                       "kill" + std::to_string(round), answering);
    REQUIRE(took);
    INFO("delivery resumed " << took->count() << " ms after Redis answered");
    CHECK(*took <= kResumeBound);
    CHECK(wait_readyz(gateway, 200, 5s));
    CHECK(client->is_open());
  }
  CHECK(gateway.running());
}

TEST_CASE("redis faults: kill -9 with Redis down for 4 s", "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/long?subscribe-broadcast", "broadcast:long");
  redis.stop();
  CHECK(wait_readyz(gateway, 503, 5s));
  // A restart that takes a while (loading a dataset, a host reboot): the
  // gateway has failed many reconnect attempts by the time Redis is back,
  // and the 1 s promise holds however long Redis was away.
  CHECK_FALSE(wait_until(
      [&] {
        client->pump();
        return !client->is_open();
      },
      4s, 20ms));
  redis.start();
  const auto answering = Clock::now();
  const auto took = time_to_delivery(redis.port(), *client, "broadcast:long", "long", answering);
  REQUIRE(took);
  INFO("delivery resumed " << took->count() << " ms after Redis answered");
  CHECK(*took <= kResumeBound);
}

TEST_CASE("redis faults: CLIENT KILL TYPE pubsub drops the subscriber connection",
          "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/kicked?subscribe-broadcast", "broadcast:kicked");
  RedisSync admin(redis.port());

  for (int round = 1; round <= 3; ++round) {
    INFO("round " << round);
    REQUIRE(wait_readyz(gateway, 200, 5s));
    // Redis keeps answering throughout: only the gateway's subscriber
    // connection (the one pub/sub client) is dropped.
    const RedisValue killed = admin.command({"CLIENT", "KILL", "TYPE", "pubsub"});
    const auto answering = Clock::now();
    REQUIRE(killed.kind == RedisValue::Kind::integer);
    REQUIRE(killed.integer >= 1);

    const auto took = time_to_delivery(redis.port(), *client, "broadcast:kicked",
                                       "kick" + std::to_string(round), answering);
    REQUIRE(took);
    INFO("delivery resumed " << took->count() << " ms after the kill");
    CHECK(*took <= kResumeBound);
    // The subscriber connection was re-established (the ~100 ms outage is
    // too short to be sure a /readyz poller sees it; the counter is exact;
    // the kill -9 tests check /readyz over a longer outage).
    CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total") == round);
    CHECK(wait_readyz(gateway, 200, 5s));
    CHECK(client->is_open());
  }
  CHECK(gateway.running());
}

TEST_CASE("redis faults: CLIENT KILL TYPE normal drops the command connection",
          "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/cmd?subscribe-broadcast", "broadcast:cmd");
  auto talker = open_ws(gateway, "/ws/cmdpub?publish-broadcast");

  for (int round = 1; round <= 3; ++round) {
    INFO("round " << round);
    REQUIRE(wait_readyz(gateway, 200, 5s));
    {
      // Every normal client but this one: the gateway's command connection
      // (publishes, SET, GET of last messages). Redis keeps answering.
      RedisSync admin(redis.port());
      const RedisValue killed =
          admin.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      REQUIRE(killed.kind == RedisValue::Kind::integer);
      REQUIRE(killed.integer >= 1);
    }
    const auto answering = Clock::now();
    // A browser publish right after the kill waits for the new connection.
    const std::string value = "after-kill-" + std::to_string(round);
    REQUIRE(talker->send_text(value));
    RedisSync sync(redis.port());
    CHECK(wait_stored(sync, "broadcast:cmdpub", value, 5s));
    const auto stored = since(answering);
    INFO("stored " << stored.count() << " ms after the kill");
    CHECK(stored <= kResumeBound);
    const auto took = time_to_delivery(redis.port(), *client, "broadcast:cmd",
                                       "cmd" + std::to_string(round), answering);
    REQUIRE(took);
    CHECK(*took <= kResumeBound);
    // The command connection was re-established (a ~100 ms outage is too
    // short to be sure a /readyz poller sees it; the counter is exact).
    CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total") == round);
    CHECK(wait_readyz(gateway, 200, 5s));
    CHECK(talker->is_open());
  }
}

TEST_CASE("redis faults: DEBUG SLEEP 2 holds messages, then delivery resumes",
          "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/nap?subscribe-broadcast", "broadcast:nap");
  auto talker = open_ws(gateway, "/ws/nap?publish-broadcast");

  std::atomic<bool> done{false};
  std::string reply;
  Clock::time_point woke{};
  std::thread sleeper([&] {
    try {
      RedisSync sleepy(redis.port(), 10s);
      reply = sleepy.command({"DEBUG", "SLEEP", "2"}).str;
      woke = Clock::now();
    } catch (const std::exception& e) {
      reply = e.what();
    }
    done.store(true);
  });
  struct Join {
    std::thread& t;
    ~Join() { t.join(); }
  } join{sleeper};

  // Redis is asleep once a PING goes unanswered.
  REQUIRE(wait_until(
      [&] {
        try {
          RedisSync ping(redis.port(), 200ms);
          ping.command({"PING"});
          return false;
        } catch (const std::exception&) {
          return true;
        }
      },
      5s, 10ms));
  // Browser publishes made while Redis sleeps wait in its input buffer.
  for (int i = 1; i <= 5; ++i) REQUIRE(talker->send_text("asleep-" + std::to_string(i)));
  REQUIRE(wait_until([&] { return done.load(); }, 10s));
  REQUIRE(reply == "OK");

  std::optional<std::chrono::milliseconds> first;
  for (int i = 1; i <= 5; ++i) {
    std::optional<Received> m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "asleep-" + std::to_string(i));
    if (!first) first = since(woke);
  }
  INFO("held messages delivered " << first->count() << " ms after Redis woke");
  CHECK(*first <= kResumeBound);
  const auto took = time_to_delivery(redis.port(), *client, "broadcast:nap", "nap", woke);
  REQUIRE(took);
  INFO("delivery resumed " << took->count() << " ms after Redis woke");
  CHECK(*took <= kResumeBound);
  CHECK(client->is_open());
  CHECK(talker->is_open());
  CHECK(wait_readyz(gateway, 200, 5s));
}

TEST_CASE("redis faults: Redis frozen with SIGSTOP for 3 s, then SIGCONT", "[gateway][faults]") {
  RedisServer redis(kRedisArgs);
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_synced(gateway, redis, "/ws/frozen?subscribe-broadcast", "broadcast:frozen");
  auto talker = open_ws(gateway, "/ws/frozen?publish-broadcast");
  RedisSubscriberProbe probe(redis.port(), {"broadcast:frozen"});

  // Thaws Redis whatever happens, so its destructor never meets a stopped
  // process by surprise (SIGKILL works on one anyway).
  struct Thaw {
    pid_t pid;
    bool frozen = false;
    ~Thaw() {
      if (frozen) ::kill(pid, SIGCONT);
    }
  } thaw{redis.pid()};
  REQUIRE(::kill(redis.pid(), SIGSTOP) == 0);
  thaw.frozen = true;
  REQUIRE(wait_until([&] { return process_state(redis.pid()) == 'T'; }, 5s));

  for (int i = 1; i <= 5; ++i) REQUIRE(talker->send_text("frozen-" + std::to_string(i)));
  // Frozen for about 3 s (well under the health check's 10 s + 10 s):
  // nothing can arrive meanwhile.
  CHECK(client->expect_no_message(3s));
  talker->pump();
  CHECK(talker->is_open());
  CHECK(get_status(gateway, "/healthz") == 200);

  REQUIRE(::kill(redis.pid(), SIGCONT) == 0);
  thaw.frozen = false;
  const auto thawed = Clock::now();

  std::optional<std::chrono::milliseconds> first;
  for (int i = 1; i <= 5; ++i) {
    std::optional<Received> m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "frozen-" + std::to_string(i));
    if (!first) first = since(thawed);
  }
  INFO("held messages delivered " << first->count() << " ms after SIGCONT");
  CHECK(*first <= kResumeBound);
  for (int i = 1; i <= 5; ++i) CHECK(probe.next_message(5s) == "frozen-" + std::to_string(i));

  const auto took = time_to_delivery(redis.port(), *client, "broadcast:frozen", "thaw", thawed);
  REQUIRE(took);
  INFO("delivery resumed " << took->count() << " ms after SIGCONT");
  CHECK(*took <= kResumeBound);
  CHECK(client->is_open());
  CHECK(wait_readyz(gateway, 200, 5s));
}

TEST_CASE("redis faults: browser publishes made while Redis is down reach it in order",
          "[gateway][faults]") {
  // Redis's slow log with a threshold of 0 records every command it runs, in
  // order: the restarted server's own account of what the gateway sent,
  // with no subscriber racing the gateway's reconnect.
  RedisServer redis({"--enable-debug-command", "yes", "--slowlog-log-slower-than", "0",
                     "--slowlog-max-len", "100000"});
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto talker = open_ws(gateway, "/ws/held?publish-broadcast");
  auto bystander =
      open_synced(gateway, redis, "/ws/elsewhere?subscribe-broadcast", "broadcast:elsewhere");

  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 5s));
  constexpr int kHeld = 20;
  std::vector<std::string> expected;
  for (int i = 1; i <= kHeld; ++i) {
    expected.push_back("held-" + std::to_string(i));
    REQUIRE(talker->send_text(expected.back()));
  }
  talker->pump();
  CHECK(talker->is_open());

  redis.start();
  const auto answering = Clock::now();
  RedisSync sync(redis.port());
  REQUIRE(wait_stored(sync, "broadcast:held", expected.back(), 10s));
  const auto stored = since(answering);
  INFO("last held message stored " << stored.count() << " ms after Redis answered");
  CHECK(stored <= kResumeBound);

  std::vector<std::string> published;
  std::vector<std::string> set;
  const RedisValue log = sync.command({"SLOWLOG", "GET", "-1"});
  REQUIRE(log.kind == RedisValue::Kind::array);
  // Newest first.
  for (auto entry = log.elements.rbegin(); entry != log.elements.rend(); ++entry) {
    if (entry->elements.size() < 4) continue;
    const auto& args = entry->elements[3].elements;
    if (args.size() >= 3 && args[0].str == "PUBLISH" && args[1].str == "broadcast:held") {
      published.push_back(args[2].str);
    }
    if (args.size() >= 3 && args[0].str == "SET" && args[1].str == "broadcast:held") {
      set.push_back(args[2].str);
    }
  }
  CHECK(published == expected);
  CHECK(set == expected);
  CHECK(talker->is_open());
  CHECK(time_to_delivery(redis.port(), *bystander, "broadcast:elsewhere", "after", answering));
}
