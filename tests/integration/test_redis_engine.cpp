// The redis module against a real redis-server on a free loopback port (and,
// for faults a real server cannot produce on demand, a scripted fake on an
// Asio acceptor), plus the memory engine. Nothing here sleeps: the test
// thread runs the io_context in short slices until a condition holds, under
// a deadline.
#include <catch2/catch.hpp>

#include <signal.h>

#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <wsrelay/backend/engine.hpp>
#include <wsrelay/backend/redis_connection.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/net.hpp>

#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

using wsrelay::Config;
using wsrelay::Engine;
using wsrelay::EngineHandlers;
using wsrelay::error_code;
using wsrelay::Metrics;
using wsrelay::RedisConnection;
using wsrelay::RedisConnectionOptions;
using wsrelay::RedisEndpoint;
using wsrelay::RespValue;
using wsrelay::tcp;
using wsrelay::test::RedisServer;
using wsrelay::test::RedisSubscriberProbe;
using wsrelay::test::RedisSync;
using wsrelay::test::RedisValue;
namespace net = wsrelay::net;

using Values = std::vector<std::optional<std::string>>;

// Runs `io` in short slices until `pred` holds; false when `timeout` passes first.
bool run_until(net::io_context& io, const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_for(2ms);
  }
  return true;
}

RedisEndpoint tcp_endpoint(std::uint16_t port) {
  RedisEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = port;
  return endpoint;
}

long long numsub(RedisSync& redis, const std::string& channel) {
  const RedisValue reply = redis.command({"PUBSUB", "NUMSUB", channel});
  REQUIRE(reply.elements.size() == 2);
  return reply.elements[1].integer;
}

long long info_field(RedisSync& redis, const std::string& section, const std::string& field) {
  const std::string info = redis.command({"INFO", section}).str;
  const auto at = info.find(field + ":");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + field.size() + 1));
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// An engine on its own io_context, recording every handler call.
struct Harness {
  // Before io: a message's hold, destroyed with io's queue, counts itself
  // out of the metrics.
  Metrics metrics;
  net::io_context io;
  Config config;
  std::unique_ptr<Engine> engine;
  std::vector<std::pair<std::string, std::string>> messages;
  std::vector<std::string> subscribed;
  std::vector<bool> links;
  std::vector<bool> readiness;
  std::vector<std::string> refused;
  std::vector<std::vector<std::string>> gaps;
  std::vector<std::pair<std::string, std::size_t>> oversized;
  // The holds of messages on channels it accepts are kept (as a shard that
  // has not delivered yet would keep them) until the test clears `holds`.
  std::function<bool(std::string_view channel)> keep_hold;
  std::vector<wsrelay::DeliveryHold> holds;
  std::vector<std::string> unconfirmed;

  explicit Harness(std::optional<RedisEndpoint> endpoint,
                   const std::function<void(Config&)>& tweak = {}) {
    config.redis = std::move(endpoint);
    config.redis_connect_timeout_ms = 1000;
    config.redis_reconnect_min_ms = 10;
    config.redis_reconnect_max_ms = 100;
    if (tweak) tweak(config);
    engine = wsrelay::make_engine(config, io.get_executor(), metrics);
    engine->start(EngineHandlers{
        [this](std::string_view channel, std::string_view payload,
               const wsrelay::DeliveryHold& hold, std::chrono::steady_clock::time_point) {
          messages.emplace_back(channel, payload);
          if (keep_hold && keep_hold(channel)) holds.push_back(hold);
        },
        [this](const std::string& channel) { subscribed.push_back(channel); },
        [this](bool up) { links.push_back(up); },
        [this](bool is_ready) { readiness.push_back(is_ready); },
        [this](const std::string& channel, std::string_view) { refused.push_back(channel); },
        [this](std::vector<std::string> channels) { gaps.push_back(std::move(channels)); },
        [this](std::string_view channel, std::size_t bytes) {
          oversized.emplace_back(channel, bytes);
        },
        [this](const std::vector<std::string>& channels) {
          unconfirmed.insert(unconfirmed.end(), channels.begin(), channels.end());
        },
    });
  }
  ~Harness() { engine->stop(); }

  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    return ::run_until(io, pred, timeout);
  }
  bool wait_ready() {
    return run_until([&] { return engine->ready() && !links.empty() && links.back(); });
  }
  std::size_t confirmations(const std::string& channel) const {
    return static_cast<std::size_t>(std::count(subscribed.begin(), subscribed.end(), channel));
  }
  std::optional<Values> get(const std::vector<std::string>& keys) {
    std::optional<Values> result;
    engine->get(keys, [&](Values values) { result = std::move(values); });
    if (!run_until([&] { return result.has_value(); })) return std::nullopt;
    return result;
  }
  // A client publish; its refusals (posted, never inline) are recorded.
  void publish(const std::string& channel, std::string_view payload, int expire_seconds) {
    engine->publish(channel, payload, expire_seconds, [this](const wsrelay::PublishRefusal& why) {
      publish_refusals.push_back(why);
    });
  }
  std::vector<wsrelay::PublishRefusal> publish_refusals;
  bool barrier() {
    bool fired = false;
    engine->barrier([&] { fired = true; });
    return run_until([&] { return fired; });
  }
};

// Sends SIGCONT on the way out, so a failing assertion never leaves the
// server stopped (the RedisServer destructor's SIGKILL works either way).
struct ResumeOnExit {
  pid_t pid;
  ~ResumeOnExit() { ::kill(pid, SIGCONT); }
};

// A TCP peer for faults a real Redis does not produce on demand: after the
// first bytes of each connection it writes `script` (nothing when empty) and
// then keeps the connection open and silent.
struct FakeRedis {
  tcp::acceptor acceptor;
  std::string script;
  int accepts = 0;
  std::vector<std::shared_ptr<tcp::socket>> sockets;

  FakeRedis(net::io_context& io, std::string script_)
      : acceptor(io, tcp::endpoint(net::ip::address_v4::loopback(), 0)),
        script(std::move(script_)) {
    accept();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  void accept() {
    acceptor.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      ++accepts;
      auto peer = std::make_shared<tcp::socket>(std::move(socket));
      sockets.push_back(peer);
      if (!script.empty()) {
        auto buffer = std::make_shared<std::array<char, 512>>();
        peer->async_read_some(
            net::buffer(*buffer), [this, peer, buffer](error_code ec, std::size_t) {
              if (!ec)
                net::async_write(*peer, net::buffer(script), [peer](error_code, std::size_t) {});
            });
      }
      accept();
    });
  }
};

RedisConnectionOptions fast_options(RedisEndpoint endpoint) {
  RedisConnectionOptions options;
  options.endpoint = std::move(endpoint);
  options.name = "test";
  options.connect_timeout = 500ms;
  options.reconnect_min = 10ms;
  options.reconnect_max = 50ms;
  return options;
}

}  // namespace

TEST_CASE("redis engine: subscribe is confirmed and an external PUBLISH is delivered", "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());
  CHECK(h.engine->name() == "redis");
  CHECK(h.metrics.redis_subscriber_up == 1);
  CHECK(h.metrics.redis_command_up == 1);

  h.engine->subscribe({"broadcast:a", "broadcast:b"});
  REQUIRE(h.run_until(
      [&] { return h.confirmations("broadcast:a") == 1 && h.confirmations("broadcast:b") == 1; }));
  CHECK(h.metrics.redis_channels == 2);

  RedisSync redis(server.port());
  CHECK(numsub(redis, "broadcast:a") == 1);
  const std::string payload = "bin\0ary\r\n\xff"s;
  CHECK(redis.publish("broadcast:b", payload) == 1);
  REQUIRE(h.run_until([&] { return h.messages.size() == 1; }));
  CHECK(h.messages[0] == std::pair<std::string, std::string>("broadcast:b", payload));
  CHECK(h.metrics.messages_from_redis == 1);
}

// redis.subscriber_backlog_bytes counts a message until every holder of
// its hold (in the gateway: each shard's queued delivery) has let go, so a
// shard that falls behind makes the subscriber thread drop and count, not
// stop reading and not buffer without bound.
TEST_CASE("redis engine: messages whose delivery is still held count against the backlog bound",
          "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()), [](Config& c) { c.redis_subscriber_backlog_bytes = 100; });
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"c:1", "c:2"});
  REQUIRE(h.run_until([&] { return h.confirmations("c:1") == 1 && h.confirmations("c:2") == 1; }));
  RedisSync redis(server.port());

  h.keep_hold = [](std::string_view) { return true; };
  redis.publish("c:1", std::string(60, 'a'));  // passes: nothing held yet
  REQUIRE(h.run_until([&] { return h.messages.size() == 1; }));
  CHECK(h.metrics.redis_subscriber_backlog_bytes == 63);  // "c:1" + 60 bytes
  redis.publish("c:1", std::string(60, 'b'));             // 63 + 63 > 100: dropped
  redis.publish("c:2", std::string(60, 'c'));             // dropped
  redis.publish("c:2", "small");                          // 63 + 8 <= 100: passes
  REQUIRE(h.run_until([&] { return h.messages.size() == 2; }));
  CHECK(h.messages[1].second == "small");
  CHECK(h.metrics.redis_messages_dropped == 2);
  CHECK(h.gaps.empty());  // reported only once delivery has caught up

  h.keep_hold = nullptr;
  h.holds.clear();  // the "shards" deliver
  REQUIRE(h.run_until([&] { return h.gaps.size() == 1; }));
  auto gap = h.gaps[0];
  std::sort(gap.begin(), gap.end());
  CHECK(gap == std::vector<std::string>{"c:1", "c:2"});
  CHECK(h.metrics.redis_subscriber_backlog_bytes == 0);
  redis.publish("c:1", std::string(90, 'd'));  // passes again
  REQUIRE(h.run_until([&] { return h.messages.size() == 3; }));
  CHECK(h.metrics.redis_messages_dropped == 2);
  CHECK(h.gaps.size() == 1);

  // Counted per message, not per read: one read brings both of a
  // transaction's messages, and only the small one is still held.
  h.keep_hold = [](std::string_view channel) { return channel == "c:1"; };
  REQUIRE(redis.command({"MULTI"}).str == "OK");
  REQUIRE(redis.command({"PUBLISH", "c:1", "tiny"}).str == "QUEUED");
  REQUIRE(redis.command({"PUBLISH", "c:2", std::string(90, 'e')}).str == "QUEUED");
  REQUIRE(redis.command({"EXEC"}).elements.size() == 2);
  REQUIRE(h.run_until([&] { return h.messages.size() == 5; }));
  CHECK(h.metrics.redis_subscriber_backlog_bytes == 7);  // "c:1" + "tiny"
  h.holds.clear();
  CHECK(h.metrics.redis_subscriber_backlog_bytes == 0);
}

// The subscriber reads on its own thread, so not even a control thread that
// does nothing at all (here: the test does not run its io_context while a
// 60 MiB burst is published) lets Redis's output buffer for it grow: the
// link reads on, drops past its bound and counts, and reports the gap once
// the control thread runs again. With the read loop on the control thread,
// Redis would drop the connection at its 8 MB limit every time.
TEST_CASE("redis engine: a stalled control thread never gets the subscriber disconnected",
          "[redis]") {
  constexpr int kMessages = 6000;
  const std::string payload(10 * 1024, 'x');
  RedisServer server;
  RedisSync admin(server.port());
  REQUIRE(admin.command({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 8mb 4mb 10"}).str ==
          "OK");
  Harness h(tcp_endpoint(server.port()),
            [](Config& c) { c.redis_subscriber_backlog_bytes = 1024 * 1024; });
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"burst"});
  REQUIRE(h.run_until([&] { return h.confirmations("burst") == 1; }));
  const std::string before = admin.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str;
  REQUIRE(before.find("id=") != std::string::npos);
  const std::string id = before.substr(before.find("id="), before.find(' ') - before.find("id="));

  {
    RedisSync publisher(server.port());
    for (int i = 0; i < kMessages; ++i) publisher.publish("burst", payload);
  }
  // Redis has handed the link every byte: its buffer for the link is empty.
  REQUIRE(wsrelay::test::wait_until(
      [&] {
        const std::string list = admin.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str;
        return list.find(id + " ") != std::string::npos &&
               list.find(" omem=0 ") != std::string::npos;
      },
      20s));
  CHECK(admin.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str.find(id + " ") !=
        std::string::npos);
  CHECK(server.log().find("output buffer limits") == std::string::npos);

  // The control thread runs again: what fitted the bound arrives, the rest
  // was counted, and the channel is reported. omem=0 means Redis wrote every
  // byte to the socket, not that the link has read them all: the tail may
  // still sit in the kernel's buffer, and reading it can overflow the bound
  // once more after the first report, so the wait is for every message to be
  // accounted for, and each report names the channel.
  REQUIRE(h.run_until(
      [&] {
        return !h.gaps.empty() && h.messages.size() + h.metrics.redis_messages_dropped == kMessages;
      },
      20s));
  for (const auto& gap : h.gaps) CHECK(gap == std::vector<std::string>{"burst"});
  CHECK(h.metrics.redis_messages_dropped > 0);
  CHECK(h.links == std::vector<bool>{true});
  CHECK(h.metrics.redis_subscriber_backlog_bytes == 0);
}

TEST_CASE("redis engine: publish sends PUBLISH then SET EX, and get reads it back", "[redis]") {
  RedisServer server;
  RedisSubscriberProbe probe(server.port(), {"last:x", "last:y"});
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());

  h.publish("last:x", "first", 60);
  h.publish("last:x", "second\0!"s, 60);
  h.publish("last:y", "not stored", 0);
  // The MGET goes down the same pipelined connection after the SETs.
  const auto values = h.get({"last:x", "last:y", "missing"});
  REQUIRE(values);
  CHECK(*values == Values{"second\0!"s, std::nullopt, std::nullopt});

  CHECK(probe.next_message(5s) == "first");
  CHECK(probe.next_message(5s) == "second\0!"s);
  CHECK(probe.next_message(5s) == "not stored");

  RedisSync redis(server.port());
  CHECK(redis.get("last:x") == "second\0!"s);
  const long long ttl = redis.ttl("last:x");
  CHECK(ttl > 0);
  CHECK(ttl <= 60);
  CHECK_FALSE(redis.get("last:y").has_value());
  CHECK(h.metrics.redis_pending_messages == 0);

  // Empty key lists are answered too, and never inline.
  std::optional<Values> empty;
  h.engine->get({}, [&](Values v) { empty = std::move(v); });
  CHECK_FALSE(empty.has_value());
  REQUIRE(h.run_until([&] { return empty.has_value(); }));
  CHECK(empty->empty());
}

TEST_CASE("redis engine: barrier fires after every message Redis sent before it", "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"bar"});
  REQUIRE(h.run_until([&] { return h.confirmations("bar") == 1; }));

  RedisSync redis(server.port());
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) REQUIRE(redis.publish("bar", std::to_string(i)) == 1);

  std::optional<std::size_t> seen_at_barrier;
  h.engine->barrier([&] { seen_at_barrier = h.messages.size(); });
  CHECK_FALSE(seen_at_barrier.has_value());  // never inline
  REQUIRE(h.run_until([&] { return seen_at_barrier.has_value(); }));
  CHECK(*seen_at_barrier == kMessages);
  for (int i = 0; i < kMessages; ++i) REQUIRE(h.messages[i].second == std::to_string(i));
}

TEST_CASE("redis engine: unsubscribe stops delivery", "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"u:1", "u:2"});
  REQUIRE(h.run_until([&] { return h.confirmations("u:1") == 1 && h.confirmations("u:2") == 1; }));

  h.engine->unsubscribe({"u:1"});
  RedisSync redis(server.port());
  REQUIRE(h.run_until([&] { return numsub(redis, "u:1") == 0; }));
  CHECK(numsub(redis, "u:2") == 1);
  CHECK(redis.publish("u:1", "gone") == 0);
  CHECK(redis.publish("u:2", "marker") == 1);
  REQUIRE(h.run_until([&] { return !h.messages.empty(); }));
  CHECK(h.messages == std::vector<std::pair<std::string, std::string>>{{"u:2", "marker"}});
  CHECK(h.metrics.redis_channels == 1);
}

TEST_CASE("redis engine: only the latest SUBSCRIBE of a still wanted channel is confirmed",
          "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());

  // All in one loop turn: three SUBSCRIBE acks and two UNSUBSCRIBE acks come back.
  h.engine->subscribe({"s:again"});
  h.engine->unsubscribe({"s:again"});
  h.engine->subscribe({"s:again"});
  h.engine->subscribe({"s:gone"});
  h.engine->unsubscribe({"s:gone"});
  REQUIRE(h.barrier());  // its pong comes after every ack
  CHECK(h.confirmations("s:again") == 1);
  CHECK(h.confirmations("s:gone") == 0);

  RedisSync redis(server.port());
  CHECK(numsub(redis, "s:again") == 1);
  CHECK(numsub(redis, "s:gone") == 0);
}

TEST_CASE("redis engine: thousands of channels are subscribed in chunks", "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()));
  REQUIRE(h.wait_ready());
  std::vector<std::string> channels;
  for (int i = 0; i < 2500; ++i) channels.push_back("many:" + std::to_string(i));
  h.engine->subscribe(channels);
  REQUIRE(h.run_until([&] { return h.subscribed.size() == channels.size(); }));
  CHECK(h.metrics.redis_channels == 2500);
  RedisSync redis(server.port());
  CHECK(redis.command({"PUBSUB", "CHANNELS", "many:*"}).elements.size() == 2500);
  CHECK(redis.publish("many:2499", "last") == 1);
  REQUIRE(h.run_until([&] { return h.messages.size() == 1; }));
}

TEST_CASE("redis engine: survives a Redis restart, queueing what it cannot send", "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()), [](Config& c) { c.redis_pending_max_messages = 4; });
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"r"});
  REQUIRE(h.run_until([&] { return h.confirmations("r") == 1; }));

  server.stop();
  REQUIRE(h.run_until([&] { return !h.engine->ready() && h.links.back() == false; }));
  // Readiness changes are reported as they happen, not left to be polled.
  REQUIRE(!h.readiness.empty());
  CHECK(h.readiness.back() == false);
  CHECK(h.metrics.redis_subscriber_up == 0);
  CHECK(h.metrics.redis_channels == 0);

  // While down: three publishes and a get fill the queue of four; a fifth is refused.
  h.publish("r", "q1", 60);
  h.publish("r", "q2", 60);
  h.publish("r", "q3", 60);
  std::optional<Values> got;
  h.engine->get({"r"}, [&](Values v) { got = std::move(v); });
  h.publish("r", "q4", 60);
  CHECK(h.metrics.messages_publish_dropped == 1);
  REQUIRE(h.run_until([&] { return h.publish_refusals.size() == 1; }));
  CHECK(h.publish_refusals[0].kind == wsrelay::PublishRefusal::Kind::queue_full);
  CHECK(h.metrics.redis_pending_messages == 4);
  std::optional<std::size_t> confirmations_at_barrier;
  h.engine->barrier([&] { confirmations_at_barrier = h.confirmations("r"); });

  server.start();
  // The io_context is not running, so the engine cannot flush before the probe listens.
  RedisSubscriberProbe probe(server.port(), {"r"});
  REQUIRE(h.run_until([&] {
    return h.engine->ready() && h.confirmations("r") == 2 && got.has_value() &&
           confirmations_at_barrier.has_value();
  }));
  CHECK(h.links == std::vector<bool>{true, false, true});
  CHECK(h.readiness.back() == true);
  CHECK(*got == Values{"q3"});
  // The barrier waited for the reconnect and the re-subscription.
  CHECK(*confirmations_at_barrier == 2);

  RedisSync redis(server.port());
  CHECK(redis.publish("r", "after") == 2);
  const auto before_marker = probe.messages_before("r", "after", 5s);
  REQUIRE(before_marker);
  std::vector<std::string> flushed;
  for (const auto& m : *before_marker) flushed.push_back(m.payload);
  CHECK(flushed == std::vector<std::string>{"q1", "q2", "q3"});
  REQUIRE(h.run_until([&] {
    return !h.messages.empty() &&
           h.messages.back() == std::pair<std::string, std::string>("r", "after");
  }));
  CHECK(h.metrics.redis_reconnects == 2);  // subscriber and command connection
  CHECK(h.metrics.redis_pending_messages == 0);
  CHECK(h.metrics.redis_subscriber_up == 1);
  CHECK(h.metrics.redis_command_up == 1);
}

TEST_CASE("redis engine: AUTH and SELECT", "[redis]") {
  RedisServer server;
  RedisSync admin(server.port());
  REQUIRE(admin.command({"CONFIG", "SET", "requirepass", "s3cret"}).str == "OK");
  REQUIRE(admin.command({"AUTH", "s3cret"}).str == "OK");

  SECTION("password only, database 3") {
    RedisEndpoint endpoint = tcp_endpoint(server.port());
    endpoint.password = "s3cret";
    endpoint.db = 3;
    Harness h(endpoint);
    REQUIRE(h.wait_ready());
    h.publish("k", "v", 60);
    CHECK(h.get({"k"}) == Values{"v"});
    REQUIRE(admin.command({"SELECT", "3"}).str == "OK");
    CHECK(admin.get("k") == "v");
    REQUIRE(admin.command({"SELECT", "0"}).str == "OK");
    CHECK_FALSE(admin.get("k").has_value());
  }
  SECTION("ACL user and password") {
    REQUIRE(admin.command({"ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@all"}).str ==
            "OK");
    RedisEndpoint endpoint = tcp_endpoint(server.port());
    endpoint.user = "alice";
    endpoint.password = "pw";
    Harness h(endpoint);
    REQUIRE(h.wait_ready());
    CHECK(count_of(admin.command({"CLIENT", "LIST"}).str, " user=alice ") == 2);
    h.engine->subscribe({"acl"});
    REQUIRE(h.run_until([&] { return h.confirmations("acl") == 1; }));
  }
  SECTION("a wrong password is retried with backoff and never reported up") {
    RedisEndpoint endpoint = tcp_endpoint(server.port());
    endpoint.password = "wrong";
    const long long before = info_field(admin, "stats", "total_connections_received");
    Harness h(endpoint);
    bool ever_ready = false;
    REQUIRE(h.run_until([&] {
      ever_ready = ever_ready || h.engine->ready();
      return info_field(admin, "stats", "total_connections_received") >= before + 6;
    }));
    CHECK_FALSE(ever_ready);
    CHECK(h.links.empty());
  }
}

TEST_CASE("redis engine: a SUBSCRIBE batch with one channel the ACL refuses", "[redis]") {
  RedisServer server;
  RedisSync admin(server.port());
  REQUIRE(
      admin.command({"ACL", "SETUSER", "gw", "on", ">pw", "~*", "resetchannels", "&ok*", "+@all"})
          .str == "OK");
  RedisEndpoint endpoint = tcp_endpoint(server.port());
  endpoint.user = "gw";
  endpoint.password = "pw";
  Harness h(endpoint);
  REQUIRE(h.wait_ready());
  // One call, one SUBSCRIBE command, which Redis refuses as a whole.
  h.engine->subscribe({"ok1", "denied", "ok2"});
  REQUIRE(h.run_until([&] {
    return h.confirmations("ok1") == 1 && h.confirmations("ok2") == 1 && !h.refused.empty();
  }));
  CHECK(h.refused == std::vector<std::string>{"denied"});
  CHECK(h.confirmations("denied") == 0);
  CHECK(h.metrics.redis_subscribe_refused == 1);
  admin.publish("ok2", "delivered");
  REQUIRE(h.run_until([&] { return !h.messages.empty(); }));
  CHECK(h.messages.front() == std::pair<std::string, std::string>{"ok2", "delivered"});
}

TEST_CASE("redis engine: unix socket", "[redis]") {
  wsrelay::test::TempDir dir("wsrelay-unix");
  const std::string path = dir.file("redis.sock");
  RedisServer server({"--unixsocket", path, "--unixsocketperm", "700"});
  RedisEndpoint endpoint;
  endpoint.is_unix = true;
  endpoint.path = path;
  Harness h(endpoint);
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"unix"});
  REQUIRE(h.run_until([&] { return h.confirmations("unix") == 1; }));
  RedisSync redis(server.port());
  CHECK(redis.publish("unix", "over tcp") == 1);
  REQUIRE(h.run_until([&] { return h.messages.size() == 1; }));
  CHECK(h.messages[0].second == "over tcp");
  CHECK(count_of(redis.command({"CLIENT", "LIST"}).str, " addr=" + path) == 2);
}

TEST_CASE("redis connection: replies are matched to pipelined commands in order", "[redis]") {
  RedisServer server;
  net::io_context io;
  RedisConnection connection(io.get_executor(), fast_options(tcp_endpoint(server.port())));
  CHECK_FALSE(connection.send({"PING"}, [](const RespValue*) {}));  // not started
  std::vector<bool> states;
  connection.start([&](bool up) { states.push_back(up); });
  REQUIRE(run_until(io, [&] { return connection.up(); }));

  std::vector<long long> counts;
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(connection.send({"INCR", "counter"}, [&](const RespValue* reply) {
      REQUIRE(reply != nullptr);
      counts.push_back(reply->integer);
    }));
  }
  std::optional<RespValue> error_reply;
  connection.send({"NOSUCHCOMMAND"}, [&](const RespValue* reply) { error_reply = *reply; });
  CHECK(counts.empty());  // never inline
  REQUIRE(run_until(io, [&] { return error_reply.has_value(); }));
  REQUIRE(counts.size() == 2000);
  for (int i = 0; i < 2000; ++i) REQUIRE(counts[i] == i + 1);
  CHECK(error_reply->is_error());
  CHECK(states == std::vector<bool>{true});
}

TEST_CASE("redis connection: stop fails pending callbacks with nullptr and reports nothing",
          "[redis]") {
  RedisServer server;
  net::io_context io;
  RedisConnection connection(io.get_executor(), fast_options(tcp_endpoint(server.port())));
  std::vector<bool> states;
  connection.start([&](bool up) { states.push_back(up); });
  REQUIRE(run_until(io, [&] { return connection.up(); }));

  int calls = 0;
  bool got_null = false;
  REQUIRE(connection.send({"BLPOP", "never", "0"}, [&](const RespValue* reply) {
    ++calls;
    got_null = reply == nullptr;
  }));
  RedisSync redis(server.port());
  REQUIRE(run_until(io, [&] { return info_field(redis, "clients", "blocked_clients") == 1; }));
  connection.stop();
  CHECK_FALSE(connection.up());
  CHECK(calls == 0);  // posted, not inline
  CHECK_FALSE(connection.send({"PING"}));
  REQUIRE(run_until(io, [&] { return calls == 1; }));
  CHECK(got_null);
  CHECK(states == std::vector<bool>{true});
}

TEST_CASE("redis connection: the health check notices a Redis that stops answering", "[redis]") {
  RedisServer server;
  net::io_context io;
  RedisConnectionOptions options = fast_options(tcp_endpoint(server.port()));
  options.health_check_interval = 100ms;
  RedisConnection connection(io.get_executor(), options);
  std::vector<bool> states;
  connection.start([&](bool up) { states.push_back(up); });
  REQUIRE(run_until(io, [&] { return connection.up(); }));

  REQUIRE(::kill(server.pid(), SIGSTOP) == 0);
  ResumeOnExit resume{server.pid()};
  REQUIRE(run_until(
      io, [&] { return !connection.up(); }, 5s));
  // A stopped Redis still accepts TCP connections; without its PONG the link stays down.
  CHECK(states == std::vector<bool>{true, false});

  REQUIRE(::kill(server.pid(), SIGCONT) == 0);
  REQUIRE(run_until(io, [&] { return connection.up(); }));
  CHECK(states == std::vector<bool>{true, false, true});
  CHECK(connection.reconnects() == 1);
}

TEST_CASE("redis connection: health-check pongs never reach the subscriber's push handler",
          "[redis]") {
  RedisServer server;
  net::io_context io;
  RedisConnectionOptions options = fast_options(tcp_endpoint(server.port()));
  options.subscriber = true;
  options.health_check_interval = 20ms;
  RedisConnection connection(io.get_executor(), options);
  std::vector<wsrelay::Push> pushes;
  connection.start([](bool) {}, [&](wsrelay::Push&& push) { pushes.push_back(std::move(push)); });
  REQUIRE(run_until(io, [&] { return connection.up(); }));
  REQUIRE(connection.send({"SUBSCRIBE", "quiet"}));
  REQUIRE(run_until(io, [&] { return pushes.size() == 1; }));

  RedisSync redis(server.port());
  // Idle: the connection pings itself; several pings, and the link stays up.
  REQUIRE(run_until(io, [&] {
    const std::string stats = redis.command({"INFO", "commandstats"}).str;
    const auto at = stats.find("cmdstat_ping:calls=");
    return at != std::string::npos && std::stoll(stats.substr(at + 19)) >= 5;
  }));
  CHECK(connection.up());
  CHECK(pushes.size() == 1);
  CHECK(pushes[0].kind == wsrelay::Push::Kind::subscribed);
}

TEST_CASE("redis connection: a peer that never answers hits the connect timeout", "[redis]") {
  net::io_context io;
  FakeRedis fake(io, "");
  RedisConnectionOptions options = fast_options(tcp_endpoint(fake.port()));
  options.connect_timeout = 50ms;
  RedisConnection connection(io.get_executor(), options);
  std::vector<bool> states;
  connection.start([&](bool up) { states.push_back(up); });
  REQUIRE(run_until(io, [&] { return fake.accepts >= 3; }));
  CHECK(states.empty());
  CHECK_FALSE(connection.up());
}

TEST_CASE("redis connection: a protocol error drops the link, which comes back", "[redis]") {
  net::io_context io;
  FakeRedis fake(io, "+PONG\r\n?not resp\r\n");
  RedisConnection connection(io.get_executor(), fast_options(tcp_endpoint(fake.port())));
  std::vector<bool> states;
  connection.start([&](bool up) { states.push_back(up); });
  REQUIRE(run_until(io, [&] { return states.size() >= 4; }));
  CHECK(std::vector<bool>(states.begin(), states.begin() + 4) ==
        std::vector<bool>{true, false, true, false});
  CHECK(fake.accepts >= 2);
}

TEST_CASE("make_engine picks memory without redis, redis with it", "[memory]") {
  net::io_context io;
  Metrics metrics;
  Config config;
  CHECK(wsrelay::make_engine(config, io.get_executor(), metrics)->name() == "memory");
  config.redis = tcp_endpoint(1);
  CHECK(wsrelay::make_engine(config, io.get_executor(), metrics)->name() == "redis");
}

TEST_CASE("memory engine: subscribe, publish, last message, barrier, unsubscribe", "[memory]") {
  Harness h(std::nullopt);
  CHECK(h.engine->name() == "memory");
  CHECK(h.engine->ready());
  CHECK(h.links.empty());  // posted, not inline
  REQUIRE(h.run_until([&] { return h.links == std::vector<bool>{true}; }));

  h.engine->subscribe({"m:1", "m:2"});
  CHECK(h.subscribed.empty());
  h.publish("m:1", "one", 60);
  h.publish("m:3", "nobody", 0);
  h.publish("m:2", "two", 0);
  bool barrier_fired = false;
  std::size_t messages_at_barrier = 0;
  h.engine->barrier([&] {
    barrier_fired = true;
    messages_at_barrier = h.messages.size();
  });
  CHECK(h.messages.empty());
  REQUIRE(h.run_until([&] { return barrier_fired; }));
  CHECK(h.subscribed == std::vector<std::string>{"m:1", "m:2"});
  CHECK(messages_at_barrier == 2);
  CHECK(h.messages ==
        std::vector<std::pair<std::string, std::string>>{{"m:1", "one"}, {"m:2", "two"}});
  CHECK(h.get({"m:1", "m:2", "m:3"}) == Values{"one", std::nullopt, std::nullopt});

  h.engine->unsubscribe({"m:1"});
  h.publish("m:1", "unheard", 0);
  h.publish("m:2", "heard", 0);
  REQUIRE(h.barrier());
  CHECK(h.messages.size() == 3);
  CHECK(h.messages.back().second == "heard");

  // After stop nothing is called, not even what was already posted.
  h.publish("m:2", "late", 0);
  h.engine->stop();
  h.io.restart();
  h.io.poll();
  CHECK(h.messages.size() == 3);
}

TEST_CASE(
    "redis engine: messages and stored values over max_message_bytes are reported, not "
    "delivered",
    "[redis]") {
  RedisServer server;
  Harness h(tcp_endpoint(server.port()), [](Config& c) { c.redis_max_message_bytes = 10; });
  REQUIRE(h.wait_ready());
  h.engine->subscribe({"o"});
  REQUIRE(h.run_until([&] { return h.confirmations("o") == 1; }));
  RedisSync redis(server.port());
  redis.publish("o", std::string(11, 'x'));
  redis.publish("o", std::string(10, 'y'));
  REQUIRE(h.run_until([&] { return h.messages.size() == 1; }));
  CHECK(h.messages[0].second == std::string(10, 'y'));
  REQUIRE(h.oversized.size() == 1);
  CHECK(h.oversized[0] == std::pair<std::string, std::size_t>("o", 11));

  redis.set("big", std::string(1000, 'b'), 60);
  redis.set("fits", "0123456789", 60);
  redis.set("empty", "", 60);
  CHECK(h.get({"big", "fits", "empty", "none"}) ==
        Values{std::nullopt, "0123456789", std::nullopt, std::nullopt});
  REQUIRE(h.oversized.size() == 2);
  CHECK(h.oversized[1].first == "big");
  CHECK(h.oversized[1].second > 10);
}

TEST_CASE("memory engine: messages and stored values over max_message_bytes are reported",
          "[memory]") {
  Harness h(std::nullopt, [](Config& c) { c.redis_max_message_bytes = 10; });
  h.engine->subscribe({"m"});
  REQUIRE(h.run_until([&] { return h.confirmations("m") == 1; }));
  h.publish("m", std::string(11, 'x'), 60);
  h.publish("m", "small", 0);
  REQUIRE(h.barrier());
  CHECK(h.messages == std::vector<std::pair<std::string, std::string>>{{"m", "small"}});
  REQUIRE(h.oversized.size() == 1);
  CHECK(h.get({"m"}) == Values{std::nullopt});
  CHECK(h.oversized.size() == 2);
}
