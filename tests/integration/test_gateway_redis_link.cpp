// The gateway's Redis link (issue 4, "Redis link"): a subscription Redis
// refuses closes only its own sessions; after an outage the stored last
// messages are re-sent only where they changed; the subscriber outlives a
// tight pubsub buffer limit, and what it drops past its own bound is counted
// and followed by the changed stored value.
#include <atomic>
#include <future>
#include <thread>

#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/silent_ws_socket.hpp"

using namespace wsrelay::test;

namespace {

// A gateway that connects as the ACL user "gw" (password "pw"), whose
// channel rights are `channels`.
struct AclSetup {
  RedisServer redis;
  RedisSync admin{redis.port()};
  explicit AclSetup(const std::string& channels) {
    REQUIRE(admin
                .command(
                    {"ACL", "SETUSER", "gw", "on", ">pw", "~*", "resetchannels", channels, "+@all"})
                .str == "OK");
  }
  std::string url() const { return "redis://gw:pw@127.0.0.1:" + std::to_string(redis.port()); }
};

}  // namespace

TEST_CASE("redis link: a channel the ACL refuses is refused 403 at the handshake, not others",
          "[gateway][redis_link]") {
  AclSetup acl("&broadcast:ok*");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  // Opened back to back, so their SUBSCRIBEs tend to share one command,
  // which Redis refuses as a whole.
  // The three handshakes run at once, so their SUBSCRIBEs tend to share one
  // command, which Redis refuses as a whole. "Open means subscribed": the
  // refused ones never get their 101.
  auto denied = std::async(std::launch::async, [&] {
    return WsClient().connect(gateway.port(), "/ws/secret?subscribe-broadcast");
  });
  auto mixed = std::async(std::launch::async, [&] {
    return WsClient().connect(gateway.port(), "/ws/ok2?subscribe-broadcast&subscribe-session",
                              {{"Cookie", "sessionid=s"}});
  });
  auto ok = open_ws(gateway, "/ws/ok1?subscribe-broadcast");
  const HandshakeResult denied_result = denied.get();
  const HandshakeResult mixed_result = mixed.get();
  CHECK(denied_result.status == 403);
  CHECK(denied_result.body == "subscription refused by Redis (NOPERM)\n");
  CHECK(mixed_result.status == 403);
  sync_subscription(acl.admin, *ok, "broadcast:ok1");
  CHECK(ok->is_open());
  CHECK(metric_value(gateway, "wsrelay_redis_subscribe_refused_total") >= 2);
  // Both refusals came within a second: one line names one of them.
  const std::string log = gateway.log();
  CHECK((log.find("SUBSCRIBE \"broadcast:secret\" refused: NOPERM") != std::string::npos ||
         log.find("SUBSCRIBE \"session:s:ok2\" refused: NOPERM") != std::string::npos));

  // Not stuck: a later session on the refused channel is refused as well...
  WsClient again;
  CHECK(again.connect(gateway.port(), "/ws/secret?subscribe-broadcast").status == 403);
  // ...and once the operator allows the channel, it is served.
  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "&broadcast:secret"}).str == "OK");
  auto allowed = open_ws(gateway, "/ws/secret?subscribe-broadcast");
  sync_subscription(acl.admin, *allowed, "broadcast:secret");
  CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total") == 0);
  ok->pump();
  CHECK(ok->is_open());
}

TEST_CASE("redis link: clients cannot multiply or forge the refused-SUBSCRIBE line",
          "[gateway][redis_link]") {
  AclSetup acl("&broadcast:*");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  // Every session cookie is a new session channel, refused by the ACL: one
  // refusal, one SUBSCRIBE, one would-be line per connection. The cookie
  // carries a right-to-left override, which would reorder the line on a
  // terminal.
  const auto start = std::chrono::steady_clock::now();
  constexpr int kClients = 40;
  for (int i = 0; i < kClients; ++i) {
    WsClient client;
    const auto result =
        client.connect(gateway.port(), "/ws/f?subscribe-session",
                       {{"Cookie", "sessionid=s" + std::to_string(i) + "\xe2\x80\xae" + "txt"}});
    CHECK(result.status == 403);
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  CHECK(metric_value(gateway, "wsrelay_redis_subscribe_refused_total") == kClients);
  const std::string log = gateway.log();
  const std::size_t lines = count_lines(log, "refused: NOPERM");
  CHECK(lines >= 1);
  CHECK(lines <= static_cast<std::size_t>(seconds.count()) + 1);
  CHECK(log.find("\\u{202e}txt:f\"") != std::string::npos);
  CHECK(log.find("\xe2\x80\xae") == std::string::npos);
}

namespace {

// PUBLISH then SET, as an application (or ws4redis's publisher) does.
void publish_and_store(RedisSync& redis, const std::string& channel, const std::string& value) {
  redis.publish(channel, value);
  redis.set(channel, value, 3600);
}

// Publishes `marker` on `channel` and REQUIREs it to be the next message
// `client` gets: nothing else was queued for it.
void expect_next_is(RedisSync& redis, WsClient& client, const std::string& channel,
                    const std::string& marker) {
  redis.publish(channel, marker);
  const auto m = client.read(5s);
  REQUIRE(m);
  CHECK(m->data == marker);
}

}  // namespace

TEST_CASE("redis link: after an outage only stored values that changed are re-sent, once",
          "[gateway][redis_link]") {
  AclSetup acl("&*");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto a = open_ws(gateway, "/ws/a?subscribe-broadcast");
  auto b = open_ws(gateway, "/ws/b?subscribe-broadcast");
  sync_subscription(acl.admin, *a, "broadcast:a");
  sync_subscription(acl.admin, *b, "broadcast:b");
  publish_and_store(acl.admin, "broadcast:a", "a-before");
  publish_and_store(acl.admin, "broadcast:b", "b-before");
  REQUIRE(a->read(5s)->data == "a-before");
  REQUIRE(b->read(5s)->data == "b-before");

  // The link goes down and stays down: the user is disabled, its
  // connections killed, and every reconnect fails AUTH.
  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "off"}).str == "OK");
  REQUIRE(acl.admin.command({"CLIENT", "KILL", "USER", "gw"}).integer == 2);
  CHECK(wait_readyz(gateway, 503, 5s));
  publish_and_store(acl.admin, "broadcast:a", "a-while-down");  // reaches nobody live

  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "on"}).str == "OK");
  CHECK(wait_readyz(gateway, 200, 5s));
  const auto resent = a->read(5s);
  REQUIRE(resent);
  CHECK(resent->data == "a-while-down");
  REQUIRE(wait_until([&] { return metric_value(gateway, "wsrelay_redis_channels") == 2; }, 5s));
  // Exactly once on A; nothing re-sent on B, whose value did not change.
  expect_next_is(acl.admin, *a, "broadcast:a", "a-marker");
  expect_next_is(acl.admin, *b, "broadcast:b", "b-marker");
  CHECK(metric_value(gateway, "wsrelay_last_messages_resent_total") == 1);
}

namespace {

// The id of the gateway's subscriber connection (CLIENT LIST TYPE pubsub);
// -1 when there is none.
long long pubsub_client_id(RedisSync& redis) {
  const std::string list = redis.command({"CLIENT", "LIST", "TYPE", "pubsub"}).str;
  const auto at = list.find("id=");
  return at == std::string::npos ? -1 : std::stoll(list.substr(at + 3));
}

}  // namespace

// Redis disconnects a pub/sub client whose output buffer passes its limit.
// The subscriber reads on a thread of its own, so a 30 MiB burst through a
// 1 MB hard limit gets through while 40 clients never read a byte. Before
// that thread, with the read loop on the control thread, it failed 2 runs
// in 3 on an idle machine; with it, it passed every run measured here (38:
// 10 idle, 20 with two CPU hogs beside it, 8 under ASan). It stays out of
// the default run (tag [.]): at a 1 MB limit the outcome also depends on
// the machine giving that one thread a core within a few milliseconds,
// which a machine loaded far beyond its cores does not promise. The
// default run proves the design instead with a control thread that does
// not run at all ("redis engine: a stalled control thread ..."). Run it with
//   wsrelay_integration_tests "[stress]"
TEST_CASE("redis link: the subscriber outlives a tight pubsub output-buffer limit under a burst",
          "[gateway][redis_link][.][stress]") {
  constexpr int kSilent = 40;
  constexpr int kMessages = 3000;
  const std::string payload(10 * 1024, 'x');  // 3000 x 10 KiB = 30 MiB
  RedisServer redis;
  RedisSync admin(redis.port());
  REQUIRE(
      admin.command({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb 2"}).str ==
      "OK");
  // Room for the whole burst in every queue (frames are shared, not copied):
  // the reader, on a loaded machine, may fall far behind and must not be
  // closed as a slow consumer.
  TestGateway gateway(with_redis(redis, {"--set", "websocket.max_queue_bytes=67108864"}));
  auto reader = open_ws(gateway, "/ws/burst?subscribe-broadcast");
  std::vector<std::unique_ptr<SilentWsSocket>> silent;
  for (int i = 0; i < kSilent; ++i) {
    silent.push_back(std::make_unique<SilentWsSocket>());
    REQUIRE(silent.back()->connect(gateway.port(), "/ws/burst?subscribe-broadcast", 4096) == 101);
  }
  sync_subscription(admin, *reader, "broadcast:burst");
  const long long id = pubsub_client_id(admin);
  REQUIRE(id > 0);

  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    RedisSync app(redis.port());
    for (int i = 0; i < kMessages && !stop; ++i)
      app.publish("broadcast:burst", std::to_string(i) + ":" + payload);
  });
  int expected = 0;
  bool in_order = true;
  while (expected < kMessages) {
    const auto m = reader->read(10s);
    if (!m) break;
    in_order = in_order && m->data.rfind(std::to_string(expected) + ":", 0) == 0;
    ++expected;
  }
  stop = true;
  publisher.join();
  CHECK(expected == kMessages);
  CHECK(in_order);
  CHECK(pubsub_client_id(admin) == id);
  CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total") == 0);
  CHECK(redis.log().find("scheduled to be closed ASAP for overcoming of output buffer limits") ==
        std::string::npos);
}

// What the subscriber thread has read and the shards have not delivered is
// bounded (redis.subscriber_backlog_bytes). At 1 byte, only a message that
// finds nothing in flight passes: of a transaction's 3000 messages, which Redis writes in one
// go, nearly all are dropped. Every one is counted, the rest arrive in
// order, the subscriber is never disconnected, and once the hub has caught
// up the channel's stored value is re-sent, since it changed.
TEST_CASE("redis link: messages dropped at a full hand-off are counted, then the stored value sent",
          "[gateway][redis_link]") {
  constexpr int kMessages = 3000;
  RedisServer redis;
  RedisSync admin(redis.port());
  TestGateway gateway(with_redis(redis, {"--set", "redis.subscriber_backlog_bytes=1"}));
  auto reader = open_ws(gateway, "/ws/gap?subscribe-broadcast");
  sync_subscription(admin, *reader, "broadcast:gap");
  const long long id = pubsub_client_id(admin);
  REQUIRE(id > 0);

  REQUIRE(admin.command({"MULTI"}).str == "OK");
  for (int i = 0; i < kMessages; ++i)
    REQUIRE(admin.command({"PUBLISH", "broadcast:gap", std::to_string(i)}).str == "QUEUED");
  // The final value is stored before it is published (the README's advice).
  REQUIRE(admin.command({"SET", "broadcast:gap", "final"}).str == "QUEUED");
  REQUIRE(admin.command({"PUBLISH", "broadcast:gap", "final"}).str == "QUEUED");
  REQUIRE(admin.command({"EXEC"}).elements.size() == kMessages + 2);

  int numbered = 0;
  int previous = -1;
  bool in_order = true;
  for (;;) {
    const auto m = reader->read(10s);
    REQUIRE(m);
    if (m->data == "final") break;
    const int n = std::stoi(m->data);
    in_order = in_order && n > previous;
    previous = n;
    ++numbered;
  }
  CHECK(in_order);
  // Nothing after "final" but what is published next: it came once.
  expect_next_is(admin, *reader, "broadcast:gap", "marker");

  const long long dropped =
      metric_value(gateway, "wsrelay_redis_messages_dropped_total").value_or(-1);
  const long long resent = metric_value(gateway, "wsrelay_last_messages_resent_total").value_or(-1);
  CHECK(dropped > 0);
  // "final" came live (resent 0) or, dropped, as the re-sent stored value.
  CHECK(resent >= 0);
  CHECK(resent <= 1);
  CHECK(numbered + (1 - resent) + dropped == kMessages + 1);
  CHECK(pubsub_client_id(admin) == id);
  CHECK(metric_value(gateway, "wsrelay_redis_reconnects_total") == 0);
  CHECK(metric_value(gateway, "wsrelay_redis_subscriber_backlog_bytes") == 0);
  CHECK(gateway.log().find("dropped: ") != std::string::npos);
}

TEST_CASE("redis link: a publish the ACL refuses closes its sender with 1008, counted",
          "[gateway][redis_link]") {
  // Channels: broadcast:ok* only. Keys: everything but "nokey:*".
  AclSetup acl("&broadcast:ok*");
  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "resetkeys", "%R~*", "%W~broadcast:*"}).str ==
          "OK");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto reader = open_ws(gateway, "/ws/ok?subscribe-broadcast");
  auto fine = open_ws(gateway, "/ws/ok?publish-broadcast");

  // PUBLISH refused: the channel is not allowed.
  auto denied = open_ws(gateway, "/ws/secret?publish-broadcast");
  REQUIRE(denied->send_text("nope"));
  CHECK(denied->wait_close(5s) == 1008);
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 1);

  // The sender of an allowed channel is not affected.
  REQUIRE(fine->send_text("yes"));
  auto m = reader->read(5s);
  REQUIRE(m);
  CHECK(m->data == "yes");
  CHECK(fine->is_open());
  CHECK(gateway.log().find("publish refused: NOPERM") != std::string::npos);
}

TEST_CASE("redis link: a stored last message the ACL refuses closes its sender too",
          "[gateway][redis_link]") {
  // The channel may be published, but its key may not be written.
  AclSetup acl("&broadcast:ok*");
  REQUIRE(acl.admin.command({"ACL", "SETUSER", "gw", "resetkeys", "%R~*"}).str == "OK");
  TestGateway gateway({"--redis", acl.url()});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto reader = open_ws(gateway, "/ws/ok?subscribe-broadcast");
  auto sender = open_ws(gateway, "/ws/ok?publish-broadcast");
  REQUIRE(sender->send_text("published, not stored"));
  auto m = reader->read(5s);
  REQUIRE(m);
  CHECK(m->data == "published, not stored");
  CHECK(sender->wait_close(5s) == 1008);
  CHECK(metric_value(gateway, "wsrelay_redis_publish_refused_total") == 1);
  CHECK_FALSE(acl.admin.get("broadcast:ok").has_value());
}
