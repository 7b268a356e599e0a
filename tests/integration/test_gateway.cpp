// End-to-end tests of the gateway's HTTP surface (docs/protocol.md §1): routing,
// health endpoints, the facility rule, plain requests on WebSocket paths,
// subprotocol selection and the connection limit.
#include <csignal>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

// Every flag, so a facility that slipped through would subscribe and publish
// on every audience it could reach.
const std::string kAllFlags =
    "?subscribe-broadcast&subscribe-session&subscribe-user&subscribe-group"
    "&publish-broadcast&publish-session&publish-user&publish-group&echo";
const Headers kSessionCookie{{"Cookie", "sessionid=s1"}};

bool one_line(std::string body) {
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  return !body.empty() && body.find('\n') == std::string::npos;
}

}  // namespace

TEST_CASE("health, readiness and metrics endpoints answer", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));

  CHECK(http_get(gateway.port(), "/healthz").status == 200);
  CHECK(wait_readyz(gateway, 200, 10s));

  const HttpResult metrics = http_get(gateway.port(), "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("# TYPE") != std::string::npos);
  CHECK(metrics.body.find("wsrelay_") != std::string::npos);
}

TEST_CASE("paths outside the websocket base and the health endpoints are 404", "[gateway]") {
  TestGateway gateway;
  for (const char* target : {"/", "/foo", "/ws", "/wsx/a", "/api/ws/a", "/healthzz"}) {
    INFO("GET " << target);
    CHECK(http_get(gateway.port(), target).status == 404);
  }
  // An upgrade to an unknown path is refused the same way.
  WsClient client;
  const HandshakeResult result = client.connect(gateway.port(), "/socket/a?subscribe-broadcast");
  CHECK(result.status == 404);
  CHECK_FALSE(client.is_open());
}

TEST_CASE("a plain GET on a websocket path is 400 asking to upgrade", "[gateway]") {
  TestGateway gateway;
  const HttpResult result = http_get(gateway.port(), "/ws/news?subscribe-broadcast");
  CHECK(result.status == 400);
  INFO("body: " << result.body);
  CHECK(lowercase(result.body).find("websocket") != std::string::npos);
}

TEST_CASE("invalid facilities are refused with 400 and reach no channel", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSubscriberProbe probe(redis.port(), {"*"}, /*patterns=*/true);
  RedisSync sync(redis.port());

  const std::vector<std::string> facilities{
      "",                     // empty
      std::string(129, 'a'),  // too long
      "a:b",                  // would reach into another audience's channel
      "*",                    // glob
      "news*",                //
      "a%3Fb",                // an escaped '?' is part of the path
      "a[b]",                 //
      "a/b",                  //
      "..",                   // dots only look like path traversal
      ".",                    //
      "%3A",                  // escapes that decode to forbidden characters
      "a%3Ab",                //
      "%2A",                  //
      "a%2Fb",                //
      "%2e%2e",               //
      "a%20b",                //
      "a%00b",                //
      "%C3%A9",               // non-ASCII
      "broadcast:x",          //
      "x:session:s1:x",       //
  };
  for (const auto& facility : facilities) {
    const std::string target = "/ws/" + facility + kAllFlags;
    INFO("target " << target);
    WsClient client;
    const HandshakeResult result = client.connect(gateway.port(), target, kSessionCookie);
    CHECK(result.status == 400);
    INFO("body: " << result.body);
    CHECK(one_line(result.body));
    CHECK_FALSE(client.is_open());
  }

  // Nothing was subscribed, published or stored for any of them.
  const RedisValue channels = sync.command({"PUBSUB", "CHANNELS"});
  CHECK(channels.elements.empty());
  CHECK(sync.command({"PUBSUB", "NUMPAT"}).integer == 1);  // the probe's own pattern
  CHECK(sync.keys("*").empty());
  sync.publish("marker", "end");
  const auto leaked = probe.messages_before("marker", "end", 5s);
  REQUIRE(leaked);
  CHECK(leaked->empty());
}

TEST_CASE("facilities at the edge of the rule are accepted", "[gateway]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  RedisSync sync(redis.port());
  for (const std::string& facility :
       {std::string(128, 'f'), std::string("Az09_.-"), std::string("a"), std::string("..a")}) {
    INFO("facility " << facility);
    auto client = open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast");
    sync_subscription(sync, *client, "broadcast:" + facility);
  }
}

TEST_CASE("the first offered subprotocol is selected by default", "[gateway]") {
  TestGateway gateway;
  {
    WsClient client;
    const auto result = client.connect(gateway.port(), "/ws/a?subscribe-broadcast",
                                       {{"Sec-WebSocket-Protocol", "a, b"}});
    REQUIRE(result.status == 101);
    CHECK(result.header("Sec-WebSocket-Protocol") == "a");
  }
  {
    WsClient client;
    const auto result = client.connect(gateway.port(), "/ws/a?subscribe-broadcast");
    REQUIRE(result.status == 101);
    CHECK_FALSE(result.header("Sec-WebSocket-Protocol"));
  }
  // Only tokens are selected: what is selected is echoed in the 101.
  {
    WsClient client;
    const auto result =
        client.connect(gateway.port(), "/ws/a?subscribe-broadcast",
                       {{"Sec-WebSocket-Protocol", "<script>alert(1)</script>, b"}});
    REQUIRE(result.status == 101);
    CHECK(result.header("Sec-WebSocket-Protocol") == "b");
  }
  {
    WsClient client;
    const auto result = client.connect(gateway.port(), "/ws/a?subscribe-broadcast",
                                       {{"Sec-WebSocket-Protocol", "<script>"}});
    REQUIRE(result.status == 101);
    CHECK_FALSE(result.header("Sec-WebSocket-Protocol"));
  }
}

namespace {

void check_accepted_subprotocols(const Gateway& gateway) {
  struct Case {
    std::string offered;
    std::optional<std::string> selected;
  };
  for (const Case& c : {Case{"a, b", "b"}, Case{"c, b", "c"}, Case{"c", "c"},
                        Case{"a", std::nullopt}, Case{"x, y", std::nullopt}}) {
    INFO("offered: " << c.offered);
    WsClient client;
    const auto result = client.connect(gateway.port(), "/ws/a?subscribe-broadcast",
                                       {{"Sec-WebSocket-Protocol", c.offered}});
    REQUIRE(result.status == 101);
    CHECK(result.header("Sec-WebSocket-Protocol") == c.selected);
  }
}

}  // namespace

TEST_CASE("configured subprotocols: the first offered one in the list", "[gateway]") {
  TestGateway gateway({"--set", "server.subprotocols=b,c"});
  check_accepted_subprotocols(gateway);
}

TEST_CASE("configured subprotocols from the environment", "[gateway]") {
  TestGateway gateway({}, {"WSRELAY_SUBPROTOCOLS=b,c"});
  check_accepted_subprotocols(gateway);
}

TEST_CASE("connections over max_connections get 503 at the handshake", "[gateway]") {
  TestGateway gateway({"--set", "server.max_connections=2"});
  auto first = open_ws(gateway, "/ws/a?subscribe-broadcast");
  auto second = open_ws(gateway, "/ws/a?subscribe-broadcast");
  {
    WsClient third;
    CHECK(third.connect(gateway.port(), "/ws/a?subscribe-broadcast").status == 503);
    CHECK_FALSE(third.is_open());
  }
  CHECK(first->is_open());
  CHECK(second->is_open());

  // A slot freed by a close is available again.
  REQUIRE(first->close());
  CHECK(wait_until(
      [&] {
        WsClient again;
        const int status = again.connect(gateway.port(), "/ws/a?subscribe-broadcast").status;
        return status == 101;
      },
      5s, 20ms));
}
