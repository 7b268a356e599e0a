// End-to-end tests of message flow (docs/protocol.md §3, §4): Redis -> browser,
// browser -> Redis with the stored last message, audiences, echo, prefix,
// limits and the in-process memory engine.
#include "helpers.hpp"

using namespace wsrelay::test;

TEST_CASE("redis publishes reach subscribed browsers unchanged, text or binary", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto news = open_ws(gateway, "/ws/news?subscribe-broadcast");
  auto sports = open_ws(gateway, "/ws/sports?subscribe-broadcast");
  auto publisher_only = open_ws(gateway, "/ws/news?publish-broadcast");
  sync_subscription(sync, *news, "broadcast:news");
  sync_subscription(sync, *sports, "broadcast:sports");

  sync.publish("broadcast:news", "hello");
  auto m = news->read();
  REQUIRE(m);
  CHECK(m->data == "hello");
  CHECK_FALSE(m->binary);

  const std::string utf8 = "h\xC3\xA9llo \xE2\x82\xAC";
  sync.publish("broadcast:news", utf8);
  m = news->read();
  REQUIRE(m);
  CHECK(m->data == utf8);
  CHECK_FALSE(m->binary);

  const std::string bytes("\xFF\xFE\x00\x01 binary", 11);
  sync.publish("broadcast:news", bytes);
  m = news->read();
  REQUIRE(m);
  CHECK(m->data == bytes);
  CHECK(m->binary);

  // Another facility and a connection without subscribe flags get nothing.
  CHECK(sports->expect_no_message());
  CHECK(publisher_only->expect_no_message(50ms));
}

TEST_CASE("browser messages are published and stored with SET EX", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  RedisSubscriberProbe probe(redis.port(), {"broadcast:chat"});
  auto client = open_ws(gateway, "/ws/chat?publish-broadcast");

  REQUIRE(client->send_text("first"));
  CHECK(probe.next_message(5s) == "first");
  CHECK(wait_stored(sync, "broadcast:chat", "first"));
  const long long ttl = sync.ttl("broadcast:chat");
  CHECK(ttl > 3500);
  CHECK(ttl <= 3600);

  const std::string bytes("\x00\xFF\x10", 3);
  REQUIRE(client->send_binary(bytes));
  CHECK(probe.next_message(5s) == bytes);
  CHECK(wait_stored(sync, "broadcast:chat", bytes));
  CHECK(client->is_open());
}

TEST_CASE("expire_seconds sets the TTL of the stored message, 0 stores nothing", "[gateway]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  {
    TestGateway gateway(with_redis(redis, {"--set", "redis.expire_seconds=7"}));
    RedisSubscriberProbe probe(redis.port(), {"broadcast:a"});
    auto client = open_ws(gateway, "/ws/a?publish-broadcast");
    REQUIRE(client->send_text("seven"));
    REQUIRE(probe.next_message(5s) == "seven");
    CHECK(wait_stored(sync, "broadcast:a", "seven"));
    const long long ttl = sync.ttl("broadcast:a");
    CHECK(ttl > 0);
    CHECK(ttl <= 7);
  }
  {
    TestGateway gateway(with_redis(redis, {"--set", "redis.expire_seconds=0"}));
    RedisSubscriberProbe probe(redis.port(), {"broadcast:b"});
    auto client = open_ws(gateway, "/ws/b?publish-broadcast");
    REQUIRE(client->send_text("not kept"));
    REQUIRE(client->send_text("second"));
    REQUIRE(probe.next_message(5s) == "not kept");
    REQUIRE(probe.next_message(5s) == "second");
    // A SET of the first message would have run before the second PUBLISH
    // (one pipelined command connection), so it would be visible now.
    CHECK_FALSE(sync.get("broadcast:b"));
  }
}

TEST_CASE("session channels come from the session cookie", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto mine = open_ws(gateway, "/ws/inbox?subscribe-session&publish-session",
                      {{"Cookie", "theme=dark; sessionid=abc123"}});
  auto other = open_ws(gateway, "/ws/inbox?subscribe-session", {{"Cookie", "sessionid=zzz"}});
  sync_subscription(sync, *mine, "session:abc123:inbox");
  sync_subscription(sync, *other, "session:zzz:inbox");

  sync.publish("session:abc123:inbox", "for abc");
  auto m = mine->read();
  REQUIRE(m);
  CHECK(m->data == "for abc");
  CHECK(other->expect_no_message());

  RedisSubscriberProbe probe(redis.port(), {"session:abc123:inbox"});
  REQUIRE(mine->send_text("from abc"));
  CHECK(probe.next_message(5s) == "from abc");
  CHECK(wait_stored(sync, "session:abc123:inbox", "from abc"));
  CHECK(other->expect_no_message());
}

TEST_CASE("the session cookie name is configurable", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "server.session_cookie=sid"}));
  RedisSync sync(redis.port());
  auto client = open_ws(gateway, "/ws/f?subscribe-session&publish-session",
                        {{"Cookie", "sessionid=wrong; sid=right"}});
  sync_subscription(sync, *client, "session:right:f");
  RedisSubscriberProbe probe(redis.port(), {"session:*"}, /*patterns=*/true);
  REQUIRE(client->send_text("hi"));
  auto published = probe.next(5s);
  REQUIRE(published);
  CHECK(published->channel == "session:right:f");
  CHECK(published->payload == "hi");
  CHECK(sync.command({"PUBSUB", "NUMSUB", "session:wrong:f"}).elements.at(1).integer == 0);
}

TEST_CASE("anonymous connections have no user or group channels", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  RedisSubscriberProbe probe(redis.port(), {"*"}, /*patterns=*/true);
  auto client = open_ws(gateway,
                        "/ws/f?subscribe-user&subscribe-group&subscribe-broadcast"
                        "&publish-user&publish-group&publish-broadcast");
  sync_subscription(sync, *client, "broadcast:f");
  REQUIRE(client->send_text("only broadcast"));
  auto published = probe.next(5s);
  while (published && published->payload.rfind("sync-", 0) == 0) published = probe.next(5s);
  REQUIRE(published);  // the first message that is not a sync message
  CHECK(published->channel == "broadcast:f");
  CHECK(published->payload == "only broadcast");
  sync.publish("marker", "end");
  const auto more = probe.messages_before("marker", "end", 5s);
  REQUIRE(more);
  CHECK(more->empty());
  CHECK(sync.command({"PUBSUB", "CHANNELS", "user:*"}).elements.empty());
  CHECK(sync.command({"PUBSUB", "CHANNELS", "group:*"}).elements.empty());
}

TEST_CASE("a client without publish permission that sends is closed with 1008", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  RedisSubscriberProbe probe(redis.port(), {"*"}, /*patterns=*/true);
  auto client = open_ws(gateway, "/ws/f?subscribe-broadcast&echo");
  auto bystander = open_ws(gateway, "/ws/f?subscribe-broadcast");
  sync_subscription(sync, *bystander, "broadcast:f");
  sync.publish("marker", "synced");
  REQUIRE(probe.messages_before("marker", "synced", 5s));  // skips the sync messages

  REQUIRE(client->send_text("not allowed"));
  CHECK(client->wait_close(5s) == 1008);

  sync.publish("marker", "end");
  const auto leaked = probe.messages_before("marker", "end", 5s);
  REQUIRE(leaked);
  CHECK(leaked->empty());
  CHECK_FALSE(sync.get("broadcast:f"));
  // The other connection is unaffected.
  CHECK(bystander->is_open());
  sync.publish("broadcast:f", "still here");
  auto m = bystander->read();
  REQUIRE(m);
  CHECK(m->data == "still here");
}

TEST_CASE("messages over max_message_bytes are closed with 1009", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));  // default max_message_bytes = 65536
  RedisSubscriberProbe probe(redis.port(), {"broadcast:big"});
  RedisSync sync(redis.port());
  auto client = open_ws(gateway, "/ws/big?publish-broadcast");

  const std::string at_limit(65536, 'x');
  REQUIRE(client->send_text(at_limit));
  const auto published = probe.next_message(5s);
  REQUIRE(published);
  CHECK(published->size() == at_limit.size());

  client->send_text(std::string(65537, 'y'));  // may fail once the server closes
  CHECK(client->wait_close(5s) == 1009);
  sync.publish("broadcast:big", "marker");
  CHECK(probe.next_message(5s) == "marker");
  CHECK(wait_stored(sync, "broadcast:big", at_limit));
}

TEST_CASE("max_message_bytes is configurable", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "websocket.max_message_bytes=1024"}));
  RedisSubscriberProbe probe(redis.port(), {"broadcast:f"});
  auto client = open_ws(gateway, "/ws/f?publish-broadcast");
  REQUIRE(client->send_binary(std::string(1024, 'a')));
  CHECK(probe.next_message(5s) == std::string(1024, 'a'));
  client->send_binary(std::string(1025, 'b'));
  CHECK(client->wait_close(5s) == 1009);
}

TEST_CASE("echo: a sender gets its own message back only with the echo flag", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto quiet = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast");
  auto echoing = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast&ECHO");
  auto listener = open_ws(gateway, "/ws/room?subscribe-broadcast");
  sync_subscriptions(sync, {quiet.get(), echoing.get(), listener.get()}, "broadcast:room");

  REQUIRE(quiet->send_text("from quiet"));
  auto m = listener->read();
  REQUIRE(m);
  CHECK(m->data == "from quiet");
  m = echoing->read();
  REQUIRE(m);
  CHECK(m->data == "from quiet");
  CHECK(quiet->expect_no_message());

  REQUIRE(echoing->send_text("from echoing"));
  for (auto* client : {echoing.get(), listener.get(), quiet.get()}) {
    m = client->read();
    REQUIRE(m);
    CHECK(m->data == "from echoing");
  }
}

TEST_CASE("flags are case-insensitive, order free, with values and unknowns ignored", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  auto client =
      open_ws(gateway, "/ws/f?Publish-Broadcast=no&frobnicate&SUBSCRIBE-BROADCAST=0&Echo=false");
  sync_subscription(sync, *client, "broadcast:f");
  RedisSubscriberProbe probe(redis.port(), {"broadcast:f"});
  REQUIRE(client->send_text("ping"));
  CHECK(probe.next_message(5s) == "ping");
  auto m = client->read();  // echo is on: values are ignored
  REQUIRE(m);
  CHECK(m->data == "ping");
}

TEST_CASE("prefix: channels are prefix:audience:facility", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--prefix", "pfx"}));
  RedisSync sync(redis.port());
  auto client = open_ws(gateway, "/ws/f?subscribe-broadcast&publish-broadcast");
  sync_subscription(sync, *client, "pfx:broadcast:f");

  // Published in this order; a gateway that also listened on the unprefixed
  // channel would deliver "unprefixed" first.
  sync.publish("broadcast:f", "unprefixed");
  sync.publish("pfx:broadcast:f", "prefixed");
  auto m = client->read();
  REQUIRE(m);
  CHECK(m->data == "prefixed");
  CHECK(client->expect_no_message());

  RedisSubscriberProbe probe(redis.port(), {"*"}, /*patterns=*/true);
  REQUIRE(client->send_text("out"));
  auto published = probe.next(5s);
  REQUIRE(published);
  CHECK(published->channel == "pfx:broadcast:f");
  CHECK(published->payload == "out");
  CHECK(wait_stored(sync, "pfx:broadcast:f", "out"));
  CHECK_FALSE(sync.get("broadcast:f"));
}
