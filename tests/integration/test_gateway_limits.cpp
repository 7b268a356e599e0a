// Regression tests of the per-session limits (docs/protocol.md §6): every frame the
// gateway queues for a client, pongs included, counts against
// max_queue_bytes; one message bigger than the limit is not slowness; a 1013
// is the last frame; max_connections holds for handshakes in flight.
#include <atomic>
#include <thread>

#include "probe_helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

// Stops and joins a helper thread however the test body is left.
struct StopAndJoin {
  std::atomic<bool>& stop;
  std::thread& thread;
  void join() {
    stop.store(true);
    if (thread.joinable()) thread.join();
  }
  ~StopAndJoin() { join(); }
};

}  // namespace

TEST_CASE("a ping flood from a client that never reads is cut at max_queue_bytes",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.max_queue_bytes=65536", "--set",
                                         "websocket.soft_queue_bytes=32768"}));
  RedisSync sync(redis.port());
  auto normal = open_ws(gateway, "/ws/f?subscribe-broadcast");
  sync_subscription(sync, *normal, "broadcast:f");

  // What the gateway holds before the flood: the bound below is on growth,
  // since a sanitizer build alone starts near 64 MiB.
  const auto baseline = proc_status_kib(gateway.pid(), "VmRSS");
  REQUIRE(baseline);

  // Never reads a byte, with a tiny receive window: once the kernel buffers
  // are full, every pong the gateway owes it stays in the gateway.
  SilentWsSocket flooder;
  REQUIRE(flooder.connect(gateway.port(), "/ws/flood", 4096) == 101);

  // 600 x 1000 pings with the largest control payload (125 bytes): 78 MB in.
  // Their pongs, kept without a bound, would hold far more than the 64 MiB
  // of growth the gateway is allowed below.
  constexpr int kPingsPerBatch = 1000;
  constexpr int kBatches = 600;
  std::string batch;
  for (int i = 0; i < kPingsPerBatch; ++i) {
    batch += RawWsClient::masked_frame(0x9, std::string(125, static_cast<char>('a' + i % 26)));
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> flood_done{false};
  std::atomic<int> batches_sent{0};
  std::atomic<bool> send_timed_out{false};
  std::thread flood([&] {
    for (int i = 0; i < kBatches && !stop.load(); ++i) {
      const auto result = flooder.send_all(batch, 10s);
      if (result == SilentWsSocket::SendResult::timeout) send_timed_out.store(true);
      if (result != SilentWsSocket::SendResult::sent) break;  // the gateway hung up
      batches_sent.fetch_add(1);
    }
    flood_done.store(true);
  });
  StopAndJoin joiner{stop, flood};

  // Meanwhile another client on the gateway gets every publish, at once.
  int published = 0;
  auto round_trip = [&] {
    const std::string payload = "p-" + std::to_string(++published);
    sync.publish("broadcast:f", payload);
    auto m = normal->read(5s);
    INFO("publish " << published << " during the flood");
    REQUIRE(m);
    REQUIRE(m->data == payload);
  };
  while (!flood_done.load()) round_trip();
  joiner.join();
  INFO("batches of pings sent: " << batches_sent.load() << " of " << kBatches);
  CHECK_FALSE(send_timed_out.load());  // the gateway kept reading

  // The gateway closes the connection: a close frame with 1013 if it could
  // still write one, then the TCP connection.
  CHECK(flooder.read_until_eof(10s));
  for (const RawFrame& frame : flooder.frames()) {
    if (frame.opcode == 0x8) CHECK(close_code_of(frame) == 1013);
  }
  const auto evicted =
      metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}");
  REQUIRE(evicted);
  CHECK(*evicted >= 1);

  // Its memory stayed bounded the whole time (VmHWM is the peak RSS).
  const auto peak = proc_status_kib(gateway.pid(), "VmHWM");
  const auto now = proc_status_kib(gateway.pid(), "VmRSS");
  REQUIRE(peak);
  REQUIRE(now);
  INFO("gateway VmRSS before " << *baseline << " KiB, VmHWM " << *peak << " KiB, VmRSS " << *now
                               << " KiB");
  CHECK(*peak - *baseline < 64 * 1024);
  CHECK(*now - *baseline < 64 * 1024);

  round_trip();
  CHECK(normal->is_open());
}

TEST_CASE("one message bigger than max_queue_bytes does not evict idle readers",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "websocket.max_message_bytes=65536", "--set",
              "websocket.max_queue_bytes=65536", "--set", "websocket.soft_queue_bytes=32768"}));
  RedisSync sync(redis.port());
  auto first = open_ws(gateway, "/ws/big?subscribe-broadcast");
  auto second = open_ws(gateway, "/ws/big?subscribe-broadcast");
  sync_subscriptions(sync, {first.get(), second.get()}, "broadcast:big");

  std::string text(70000, 't');
  text.replace(100, 3, "\xE2\x82\xAC");  // still UTF-8: a text frame
  std::string bytes(70000, 'b');
  bytes[0] = '\xFF';  // not UTF-8: a binary frame
  for (const std::string* payload : {&text, &bytes}) {
    const bool binary = payload == &bytes;
    INFO((binary ? "binary" : "text") << " message of " << payload->size() << " bytes");
    // Published while both readers are idle, so each one's queue was empty.
    sync.publish("broadcast:big", *payload);
    for (auto* client : {first.get(), second.get()}) {
      auto m = client->read(5s);
      REQUIRE(m);
      CHECK(m->data.size() == payload->size());
      CHECK(m->data == *payload);
      CHECK(m->binary == binary);
    }
  }

  // Both stay open: the next small message reaches both.
  sync.publish("broadcast:big", "small");
  for (auto* client : {first.get(), second.get()}) {
    auto m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "small");
    CHECK(client->is_open());
  }
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 0);
}

TEST_CASE("a 1013 raised during the replay is the last frame of the connection",
          "[gateway][regression]") {
  RedisServer redis;
  // One shard: when the witness has a live message, the session under test
  // has been offered it too.
  TestGateway gateway(
      with_redis(redis, {"--threads", "1", "--set", "websocket.max_queue_bytes=65536", "--set",
                         "websocket.soft_queue_bytes=32768"}));
  RedisSync sync(redis.port());
  // Two stored values that do not fit the queue together: the first is
  // queued, the second overflows while the replay is still running.
  const std::string stored_broadcast(40000, 'B');
  const std::string stored_session(40000, 'S');
  sync.set("broadcast:f", stored_broadcast, 600);
  sync.set("session:s1:f", stored_session, 600);

  auto witness = open_ws(gateway, "/ws/f?subscribe-broadcast");
  auto replayed = witness->read(5s);
  REQUIRE(replayed);
  REQUIRE(replayed->data == stored_broadcast);

  RawWsClient client;
  REQUIRE(client.connect(gateway.port(), "/ws/f?subscribe-broadcast&subscribe-session",
                         {{"Cookie", "sessionid=s1"}}) == 101);
  REQUIRE(client.wait_close(5s) == 1013);

  // Live messages on both channels after the close frame. The session
  // channel's go first: Redis delivers them in publish order, so once the
  // witness has the last broadcast one, the session was offered all of them.
  for (int i = 0; i < 5; ++i) sync.publish("session:s1:f", "live-session-" + std::to_string(i));
  for (int i = 0; i < 5; ++i) sync.publish("broadcast:f", "live-" + std::to_string(i));
  for (int i = 0; i < 5; ++i) {
    auto m = witness->read(5s);
    REQUIRE(m);
    REQUIRE(m->data == "live-" + std::to_string(i));
  }

  // A ping after the close frame is not answered either. (The send may fail
  // if the gateway already dropped the connection; that is fine too.)
  client.send_raw(RawWsClient::masked_frame(0x9, "after close"));

  // The client never answers the close: the gateway drops the connection
  // after close_timeout_seconds. Everything it wrote is in frames() by then.
  CHECK(client.wait_eof(10s));
  const auto& frames = client.frames();
  std::size_t close_index = frames.size();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].opcode == 0x8) {
      close_index = i;
      break;
    }
  }
  REQUIRE(close_index < frames.size());
  CHECK(close_code_of(frames[close_index]) == 1013);
  std::string after;  // whatever followed the close frame
  for (std::size_t i = close_index + 1; i < frames.size(); ++i) {
    after += "[opcode " + std::to_string(frames[i].opcode) + ": " +
             frames[i].payload.substr(0, 20) + "] ";
  }
  INFO("after the close frame: " << after);
  CHECK(close_index + 1 == frames.size());
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"slow_consumer\"}") == 1);
  CHECK(witness->is_open());
}

TEST_CASE("max_connections holds for concurrent handshakes: a freed slot is reused",
          "[gateway][regression]") {
  TestGateway gateway({"--set", "server.max_connections=2"});
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<SilentWsSocket>> sockets;
  for (int i = 0; i < kClients; ++i) {
    sockets.push_back(std::make_unique<SilentWsSocket>());
    sockets.back()->open(gateway.port());
  }
  // Every request is written before any answer is read: the handshakes are
  // in flight together, across the shards.
  const std::string request =
      SilentWsSocket::upgrade_request(gateway.port(), "/ws/a?subscribe-broadcast");
  for (auto& socket : sockets)
    REQUIRE(socket->send_all(request) == SilentWsSocket::SendResult::sent);
  std::vector<std::size_t> accepted;
  int refused = 0;
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const int status = sockets[i]->read_handshake(5s);
    INFO("client " << i << " -> " << status);
    CHECK((status == 101 || status == 503));
    if (status == 101) accepted.push_back(i);
    if (status == 503) ++refused;
  }
  CHECK(accepted.size() == 2);
  CHECK(refused == kClients - 2);
  CHECK(metric_value(gateway, "wsrelay_connections_over_limit_total") == kClients - 2);
  REQUIRE(!accepted.empty());

  // At the limit, one more is refused; once one closes, a new one gets in.
  {
    WsClient extra;
    CHECK(extra.connect(gateway.port(), "/ws/a?subscribe-broadcast").status == 503);
  }
  sockets[accepted.front()]->close();
  std::unique_ptr<WsClient> newcomer;
  CHECK(wait_until(
      [&] {
        auto client = std::make_unique<WsClient>();
        if (client->connect(gateway.port(), "/ws/a?subscribe-broadcast").status != 101) {
          return false;
        }
        newcomer = std::move(client);
        return true;
      },
      5s, 20ms));
  REQUIRE(newcomer);
  CHECK(newcomer->is_open());
  if (accepted.size() == 2) {
    // Full again.
    WsClient extra;
    CHECK(extra.connect(gateway.port(), "/ws/a?subscribe-broadcast").status == 503);
  }
}

TEST_CASE("a publish the backend cannot hold closes the publisher with 1013",
          "[gateway][regression]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "redis.pending_max_messages=2"}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto publisher = open_ws(gateway, "/ws/full?publish-broadcast");
  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 10s));

  // Two fit in the pending queue; the third is refused.
  for (int i = 0; i < 5; ++i) publisher->send_text("m" + std::to_string(i));  // fails once closed
  CHECK(publisher->wait_close(5s) == 1013);
  CHECK(metric_value(gateway, "wsrelay_messages_publish_dropped_total") >= 1);

  // What was held is published, in order, once Redis is back.
  redis.start();
  RedisSync sync(redis.port());
  CHECK(wait_stored(sync, "broadcast:full", "m1", 10s));
}
