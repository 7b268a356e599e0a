// Debian's nginx with config/nginx/wsrelay.conf in front of the gateway, as
// a host install runs it: only the ports, the upstream's port, the
// certificate and (where a case says so) the timeouts are changed, each by
// replacing the line the shipped file has, so a change to that file that
// drops one of them fails here first.
#include <csignal>

#include "nginx_helpers.hpp"
#include "support/callback_server.hpp"

using namespace wsrelay::test;

TEST_CASE("nginx: messages go both ways through the site file, plain and TLS", "[nginx]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  Nginx nginx(gateway.port());
  RedisSync sync(redis.port());

  // A browser on a page from nginx's (non-default) port: Origin and Host
  // carry that port, and the gateway's default Origin check passes.
  auto client = open_through(nginx, "/ws/chat?subscribe-broadcast&publish-broadcast");
  sync_subscriptions(sync, {client.get()}, "broadcast:chat");
  sync.publish("broadcast:chat", "from redis");
  auto got = client->read(5s);
  REQUIRE(got);
  CHECK(got->data == "from redis");

  RedisSubscriberProbe probe(redis.port(), {"broadcast:chat"});
  REQUIRE(client->send_text("from the browser"));
  CHECK(probe.next_message(5s) == "from the browser");

  // The probes pass through; /metrics stays inside.
  CHECK(http_get(nginx.http_port(), "/readyz").status == 200);
  CHECK(http_get(nginx.http_port(), "/metrics").status == 404);
  CHECK(http_get(gateway.port(), "/metrics").status == 200);

  // The TLS listener of the same server block upgrades too (curl speaks TLS;
  // it prints the 101 and then waits on the open WebSocket until --max-time).
  TempDir dir;
  Process curl(
      {"curl", "-sk", "-i", "-N", "--max-time", "3", "-H", "Connection: Upgrade", "-H",
       "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13", "-H",
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H",
       "Origin: https://127.0.0.1:" + std::to_string(nginx.https_port()),
       "https://127.0.0.1:" + std::to_string(nginx.https_port()) + "/ws/chat?subscribe-broadcast"},
      dir.file("curl.log"));
  REQUIRE(curl.wait_exit(15s).has_value());
  CHECK_THAT(curl.log_contents(), Catch::StartsWith("HTTP/1.1 101"));
  CHECK(http_get(nginx.http_port(), "/healthz").status == 200);
}

TEST_CASE("nginx: the gateway's pings keep an idle WebSocket past proxy_read_timeout", "[nginx]") {
  RedisServer redis;
  // With pings every second nginx never waits 3 s for the gateway; without
  // (an interval far above the timeout) it closes the idle connection: the
  // second half proves the timeout is real.
  for (const bool pings : {true, false}) {
    INFO("pings " << pings);
    TestGateway gateway(with_redis(
        redis, {"--set", std::string("websocket.ping_interval_seconds=") + (pings ? "1" : "300"),
                "--set", "websocket.idle_timeout_seconds=600"}));
    Nginx nginx(gateway.port(), {.read_timeout = "3s"});
    auto client = open_through(nginx, "/ws/idle?subscribe-broadcast");
    const auto idle_until = std::chrono::steady_clock::now() + 5s;
    wait_until(
        [&] {
          client->pump();  // answers the pings, as a browser does
          return !client->is_open() || std::chrono::steady_clock::now() >= idle_until;
        },
        10s, 20ms);
    if (pings) {
      REQUIRE(client->is_open());
      RedisSync sync(redis.port());
      sync_subscriptions(sync, {client.get()}, "broadcast:idle");
    } else {
      CHECK_FALSE(client->is_open());
      CHECK(client->wait_close(1s) == 1006);  // nginx drops it, no close frame
    }
  }
}

TEST_CASE(
    "nginx: Host with the port (http_host) lets a browser on a non-default port in and without it "
    "(host) gets 403 logged at info",
    "[nginx]") {
  TestGateway gateway;
  {
    Nginx nginx(gateway.port());
    WsClient client;
    CHECK(
        client
            .connect(nginx.http_port(), "/ws/news?subscribe-broadcast", browser(nginx.http_port()))
            .status == 101);
  }
  Nginx wrong(gateway.port(), {.read_timeout = "", .host_not_http_host = true});
  WsClient client;
  const HandshakeResult refused =
      client.connect(wrong.http_port(), "/ws/news?subscribe-broadcast", browser(wrong.http_port()));
  CHECK(refused.status == 403);
  // At the default level (info), naming what was compared.
  CHECK(wait_until(
      [&] {
        return gateway.log().find("origin \"http://127.0.0.1:" + std::to_string(wrong.http_port()) +
                                  "\" refused") != std::string::npos;
      },
      5s, 20ms));
  CHECK_THAT(gateway.log(), Catch::Contains(" info ") && Catch::Contains("Host \"127.0.0.1\""));
}

TEST_CASE("nginx: the client address comes from X-Forwarded-For only when nginx is trusted",
          "[nginx]") {
  CallbackServer site;
  // The client connects from 127.0.0.2, nginx to the gateway from 127.0.0.1;
  // the client also forges an X-Forwarded-For of its own, which nginx
  // appends to and the gateway must skip.
  for (const bool trusted : {true, false}) {
    INFO("nginx trusted " << trusted);
    std::vector<std::string> args{"--set", "auth.backends=callback", "--set",
                                  "auth.callback_url=" + site.url()};
    if (trusted) args.insert(args.end(), {"--set", "auth.trusted_proxies=127.0.0.1"});
    TestGateway gateway(args);
    Nginx nginx(gateway.port());
    WsClient client;
    client.set_local_address("127.0.0.2");
    Headers headers = browser(nginx.http_port());
    headers.emplace_back("X-Forwarded-For", "198.51.100.66");
    REQUIRE(client.connect(nginx.http_port(), "/ws/news?subscribe-broadcast", headers).status ==
            101);
    const RecordedRequest r = site.requests().back();
    CHECK(r.header("X-Forwarded-For") == (trusted ? "127.0.0.2" : "127.0.0.1"));
  }
}

TEST_CASE("nginx: SIGTERM of the gateway reaches the client through nginx as 1001", "[nginx]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "shutdown.drain_seconds=0"}));
  Nginx nginx(gateway.port());
  auto client = open_through(nginx, "/ws/news?subscribe-broadcast");
  gateway.signal(SIGTERM);
  CHECK(client->wait_close(10s) == 1001);
  CHECK(gateway.wait_exit(15s) == 0);
}
