// Slow consumers (README "Slow consumers, limits and reload"): the hard and
// soft outbound limits, and the per-facility policies close, drop-oldest and
// keep-latest. A slow client here is a SilentWsSocket with a tiny receive
// window that does not read, and the gateway's own kernel send buffer is
// fixed small (websocket.send_buffer_bytes), so what it is sent piles up in
// the gateway's queue after a few KiB. A witness WsClient on the same
// channel reads everything as it comes.
#include <chrono>
#include <string>
#include <vector>

#include "probe_helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

constexpr int kMessages = 600;
constexpr std::size_t kPayloadBytes = 1000;

// "<tag>-<n>-" padded to kPayloadBytes, so 600 of them are ~9 x a 64 KiB queue.
std::string payload(const std::string& tag, int n) {
  std::string p = tag + "-" + std::to_string(n) + "-";
  p.resize(kPayloadBytes, 'x');
  return p;
}

// The <n> of a payload() with `tag`, or -1.
int number_of(const std::string& data, const std::string& tag) {
  if (data.rfind(tag + "-", 0) != 0) return -1;
  return std::stoi(data.substr(tag.size() + 1));
}

std::vector<std::string> slow_gateway_args(const RedisServer& redis, const std::string& policies,
                                           const std::string& soft_bytes = "0",
                                           const std::string& soft_seconds = "10") {
  return with_redis(redis, {"--threads", "1", "--set", "websocket.max_queue_bytes=65536", "--set",
                            "websocket.soft_queue_bytes=" + soft_bytes, "--set",
                            "websocket.soft_queue_seconds=" + soft_seconds, "--set",
                            "websocket.send_buffer_bytes=4096", "--set",
                            "websocket.slow_consumer_policies=" + policies});
}

// Hard limit far away (1 MiB): only the soft one (64 KiB for 2 s) can act.
std::vector<std::string> soft_limit_args(const RedisServer& redis) {
  return with_redis(redis,
                    {"--threads", "1", "--set", "websocket.max_queue_bytes=1048576", "--set",
                     "websocket.soft_queue_bytes=65536", "--set", "websocket.soft_queue_seconds=2",
                     "--set", "websocket.send_buffer_bytes=4096"});
}

// Publishes payload(tag, 1..kMessages) on `channels` in turn (message n on
// channels[n % size]); `witness`, subscribed to channels[0] only, must read
// each of those in order as they come.
void publish_stream(RedisSync& redis, WsClient& witness, const std::vector<std::string>& channels,
                    const std::string& tag) {
  for (int n = 1; n <= kMessages; ++n) {
    const std::string& channel = channels[static_cast<std::size_t>(n) % channels.size()];
    redis.publish(channel, payload(tag, n));
    if (channel != channels[0]) continue;
    auto m = witness.read(5s);
    INFO("witness, message " << n);
    REQUIRE(m);
    REQUIRE(m->data == payload(tag, n));
  }
}

// Reads `slow` until it has a data frame for message `last`, without
// closing; REQUIREs it within the deadline.
void read_until_message(SilentWsSocket& slow, const std::string& tag, int last) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto has_last = [&] {
    const auto& frames = slow.frames();
    return std::any_of(frames.begin(), frames.end(), [&](const RawFrame& f) {
      return is_data(f) && number_of(f.payload, tag) == last;
    });
  };
  while (!has_last() && std::chrono::steady_clock::now() < deadline) {
    if (slow.read_until_eof(50ms)) break;  // closed: has_last() tells
  }
  REQUIRE(has_last());
}

// The message numbers `slow` received, REQUIREd strictly increasing (in
// order, no duplicates); no close frame among them.
std::vector<int> received_numbers(const SilentWsSocket& slow, const std::string& tag) {
  std::vector<int> numbers;
  for (const RawFrame& frame : slow.frames()) {
    REQUIRE(frame.opcode != 0x8);
    if (!is_data(frame)) continue;
    const int n = number_of(frame.payload, tag);
    REQUIRE(n > 0);
    if (!numbers.empty()) REQUIRE(n > numbers.back());
    numbers.push_back(n);
  }
  return numbers;
}

}  // namespace

TEST_CASE("slow consumer, policy close: 1013 for it, everything for a reader on the channel",
          "[gateway][slow]") {
  RedisServer redis;
  TestGateway gateway(slow_gateway_args(redis, "prices*=keep-latest"));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/feed?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:feed");

  SilentWsSocket slow;
  REQUIRE(slow.connect(gateway.port(), "/ws/feed?subscribe-broadcast", 4096) == 101);
  publish_stream(sync, *witness, {"broadcast:feed"}, "m");

  // The slow one was closed: what it got is a gap-free prefix, then 1013.
  REQUIRE(slow.read_until_eof(10s));
  const auto& frames = slow.frames();
  REQUIRE_FALSE(frames.empty());
  int expected = 1;
  std::size_t i = 0;
  for (; i < frames.size() && is_data(frames[i]); ++i) {
    INFO("data frame " << i);
    REQUIRE(frames[i].payload == payload("m", expected++));
  }
  REQUIRE(i < frames.size());
  CHECK(frames[i].opcode == 0x8);
  CHECK(close_code_of(frames[i]) == 1013);
  CHECK(frames[i].payload.substr(2) == "slow consumer");
  CHECK(expected - 1 < kMessages);
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 1);
  CHECK(metric_value(gateway, "wsrelay_messages_dropped_slow_consumer_total") == 0);
  CHECK(witness->is_open());
}

TEST_CASE("slow consumer, policy drop-oldest: stays open, gets the newest, in order, all counted",
          "[gateway][slow]") {
  RedisServer redis;
  // A soft limit of 16 KiB for 1 s that a drop policy must not enforce.
  TestGateway gateway(
      slow_gateway_args(redis, "prices*=keep-latest,ticker.*=drop-oldest", "16384", "1"));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/ticker.btc?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:ticker.btc");

  SilentWsSocket slow;
  REQUIRE(slow.connect(gateway.port(), "/ws/ticker.btc?subscribe-broadcast", 4096) == 101);
  publish_stream(sync, *witness, {"broadcast:ticker.btc"}, "t");

  // Over the soft limit for longer than soft_queue_seconds: still not closed.
  CHECK_FALSE(wait_until(
      [&] {
        return metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") !=
               0;
      },
      1500ms, 50ms));

  read_until_message(slow, "t", kMessages);
  const std::vector<int> numbers = received_numbers(slow, "t");
  CHECK(numbers.back() == kMessages);
  CHECK(numbers.front() == 1);  // the first ones went out before the queue filled
  CHECK(numbers.size() < static_cast<std::size_t>(kMessages));
  // Every message not delivered was dropped and counted.
  const auto dropped = metric_value(gateway, "wsrelay_messages_dropped_slow_consumer_total");
  REQUIRE(dropped);
  CHECK(*dropped == kMessages - static_cast<long long>(numbers.size()));
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 0);
  // Drop-oldest keeps a contiguous run of the newest: once messages are
  // delivered after a gap, the rest up to the end is contiguous or gapped,
  // but never reordered (checked above); and the tail it holds is recent.
  CHECK(numbers.size() >= 30);  // ~64 KiB of 1 KB messages were kept

  // It is still a working connection: the next message arrives too.
  sync.publish("broadcast:ticker.btc", payload("t", kMessages + 1));
  REQUIRE(witness->read(5s));
  read_until_message(slow, "t", kMessages + 1);
  CHECK(gateway.running());
}

TEST_CASE("slow consumer, policy keep-latest: superseded values go first, the newest stays",
          "[gateway][slow]") {
  RedisServer redis;
  TestGateway gateway(slow_gateway_args(redis, "prices*=keep-latest,*=drop-oldest"));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/prices.eur?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:prices.eur");

  // Two channels of the facility: broadcast and this session's own.
  SilentWsSocket slow;
  slow.open(gateway.port(), 4096);
  const std::string request = SilentWsSocket::upgrade_request(
      gateway.port(), "/ws/prices.eur?subscribe-broadcast&subscribe-session",
      {{"Cookie", "sessionid=s1"}});
  REQUIRE(slow.send_all(request) == SilentWsSocket::SendResult::sent);
  REQUIRE(slow.read_handshake() == 101);
  // The session channel is new to the gateway: wait for its SUBSCRIBE.
  REQUIRE(wait_until(
      [&] {
        auto reply = sync.command({"PUBSUB", "NUMSUB", "session:s1:prices.eur"});
        return reply.elements.size() == 2 && reply.elements[1].integer == 1;
      },
      5s, 10ms));

  publish_stream(sync, *witness, {"broadcast:prices.eur", "session:s1:prices.eur"}, "p");
  read_until_message(slow, "p", kMessages);
  read_until_message(slow, "p", kMessages - 1);
  const std::vector<int> numbers = received_numbers(slow, "p");
  // In order overall, and the last value of each channel is its newest.
  CHECK(numbers.back() == kMessages);
  CHECK(std::find(numbers.begin(), numbers.end(), kMessages - 1) != numbers.end());
  const auto dropped = metric_value(gateway, "wsrelay_messages_dropped_slow_consumer_total");
  REQUIRE(dropped);
  CHECK(*dropped == kMessages - static_cast<long long>(numbers.size()));
  CHECK(*dropped > 0);
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 0);
  // Keep-latest collapses a backlog to one value per channel: far fewer
  // messages reach this client than drop-oldest's queue-full of them.
  CHECK(numbers.size() < static_cast<std::size_t>(kMessages) / 2);
}

TEST_CASE("soft limit: closed with 1013 after soft_queue_seconds over it, not before",
          "[gateway][slow]") {
  RedisServer redis;
  TestGateway gateway(soft_limit_args(redis));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/feed?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:feed");
  SilentWsSocket slow;
  REQUIRE(slow.connect(gateway.port(), "/ws/feed?subscribe-broadcast", 4096) == 101);

  // 200 KB: over 64 KiB in the gateway at some point between first and last.
  const auto first = std::chrono::steady_clock::now();
  for (int n = 1; n <= 200; ++n) {
    sync.publish("broadcast:feed", payload("s", n));
    REQUIRE(witness->read(5s));
  }
  const auto last = std::chrono::steady_clock::now();

  std::optional<std::chrono::steady_clock::time_point> closed_at;
  REQUIRE(wait_until(
      [&] {
        if (metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") != 1)
          return false;
        closed_at = std::chrono::steady_clock::now();
        return true;
      },
      10s, 20ms));
  INFO("closed " << std::chrono::duration<double>(*closed_at - first).count()
                 << " s after the first publish, "
                 << std::chrono::duration<double>(*closed_at - last).count()
                 << " s after the last");
  // Never before its time; the exact timing (and the restart of the clock
  // when the queue drops under the limit) is OutboundQueue's unit tests'.
  CHECK(*closed_at - first >= 2s);

  REQUIRE(slow.read_until_eof(10s));
  const auto& frames = slow.frames();
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back().opcode == 0x8);
  CHECK(close_code_of(frames.back()) == 1013);
  CHECK(gateway.log().find("soft_queue_bytes 65536") != std::string::npos);
  CHECK(witness->is_open());
}

TEST_CASE("soft limit: a client that catches up in time is not closed", "[gateway][slow]") {
  RedisServer redis;
  TestGateway gateway(soft_limit_args(redis));
  RedisSync sync(redis.port());
  auto witness = open_ws(gateway, "/ws/feed?subscribe-broadcast");
  sync_subscription(sync, *witness, "broadcast:feed");
  SilentWsSocket lagging;
  REQUIRE(lagging.connect(gateway.port(), "/ws/feed?subscribe-broadcast", 4096) == 101);

  // Three times: a 200 KB backlog held for 1.2 s, then read all of it.
  int n = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      sync.publish("broadcast:feed", payload("c", ++n));
      REQUIRE(witness->read(5s));
    }
    CHECK_FALSE(wait_until(
        [&] {
          return metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") !=
                 0;
        },
        1200ms, 50ms));
    read_until_message(lagging, "c", n);
  }
  // Over 3.6 s over the soft limit in total, never 2 s in a row.
  CHECK(received_numbers(lagging, "c").size() == static_cast<std::size_t>(n));
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 0);
}
