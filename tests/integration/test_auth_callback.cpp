// End-to-end tests of the HTTP callback backend (auth.callback_url): a real
// HTTP server in the test process plays the site, a real redis-server carries
// the messages, and deliveries prove which channels a connection got.
#include <atomic>
#include <csignal>
#include <thread>

#include "helpers.hpp"
#include "probe_helpers.hpp"
#include "support/callback_server.hpp"

using namespace wsrelay::test;

namespace {

std::vector<std::string> callback_args(const RedisServer& redis, const CallbackServer& site,
                                       std::vector<std::string> more = {}) {
  std::vector<std::string> args = with_redis(
      redis, {"--set", "auth.backends=callback", "--set", "auth.callback_url=" + site.url()});
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

CallbackReply json(std::string body) {
  CallbackReply reply;
  reply.body = std::move(body);
  return reply;
}

CallbackReply status(int code, std::string body = "{}") {
  CallbackReply reply;
  reply.status = code;
  reply.body = std::move(body);
  return reply;
}

int handshake_status(const Gateway& gateway, const std::string& target, const Headers& headers = {},
                     std::chrono::milliseconds timeout = 10s) {
  WsClient client;
  return client.connect(gateway.port(), target, headers, timeout).status;
}

// Publishes `marker` on `channel` after the publishes the test made on other
// channels, and REQUIREs it to be the next message: those did not arrive.
void expect_only_marker(RedisSync& redis, WsClient& client, const std::string& channel,
                        const std::string& marker) {
  redis.publish(channel, marker);
  std::optional<Received> m = client.read(5s);
  REQUIRE(m);
  CHECK(m->data == marker);
}

// Handshakes started together, each on its own thread (a WsClient is not
// thread-safe); join() gives their statuses, -1 for no answer.
class ConcurrentHandshakes {
 public:
  ConcurrentHandshakes(const Gateway& gateway, std::size_t count, Headers headers = {})
      : statuses_(count, 0) {
    for (std::size_t i = 0; i < count; ++i)
      threads_.emplace_back([this, &gateway, i, headers] {
        try {
          statuses_[i] = handshake_status(gateway, "/ws/news?subscribe-broadcast", headers);
        } catch (const std::exception&) {
          statuses_[i] = -1;
        }
        ++finished_;
      });
  }
  ~ConcurrentHandshakes() { join(); }

  std::size_t finished() const { return finished_; }
  std::vector<int> join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    return statuses_;
  }

 private:
  std::vector<int> statuses_;
  std::atomic<std::size_t> finished_{0};
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("callback: the site's user, groups and session choose the channels", "[auth_callback]") {
  RedisServer redis;
  CallbackServer site;
  site.always(json(R"({"user": "alice", "groups": ["staff", "ops"], "session": "sess-a"})"));
  TestGateway gateway(callback_args(redis, site));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());

  auto client = open_ws(gateway,
                        "/ws/news?subscribe-user&subscribe-group&subscribe-session"
                        "&subscribe-broadcast",
                        {{"Cookie", "sessionid=whatever"}});
  for (const char* channel : {"user:alice:news", "group:staff:news", "group:ops:news",
                              "session:sess-a:news", "broadcast:news"}) {
    INFO(channel);
    sync_subscription(sync, *client, channel);
  }
  // Other audiences, and the cookie's own session (the site named another).
  for (const char* channel : {"user:bob:news", "group:admins:news", "session:whatever:news",
                              "user:alice:other", "session:sess-b:news"})
    sync.publish(channel, std::string("leak via ") + channel);
  expect_only_marker(sync, *client, "user:alice:news", "marker");

  REQUIRE(site.request_count() == 1);
  const RecordedRequest request = site.requests().front();
  CHECK(request.method == "GET");
  CHECK(request.target == "/auth");
  CHECK(request.header("X-WsRelay-Facility") == "news");
  CHECK(request.header("X-WsRelay-Flags") ==
        "subscribe-broadcast,subscribe-user,subscribe-group,subscribe-session");

  // An anonymous answer: no user channel at all.
  site.always(json(R"({"user": null})"));
  auto anonymous = open_ws(gateway, "/ws/news?subscribe-user&subscribe-broadcast");
  sync_subscriptions(sync, {client.get(), anonymous.get()}, "broadcast:news");
  sync.publish("user::news", "no user");
  sync.publish("user:null:news", "no user");
  expect_only_marker(sync, *anonymous, "broadcast:news", "marker-2");
  std::optional<Received> m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "marker-2");
}

TEST_CASE("callback: allow drops the flags it does not name", "[auth_callback]") {
  RedisServer redis;
  CallbackServer site;
  site.always(json(R"({"user": "alice", "allow": ["subscribe-broadcast"]})"));
  TestGateway gateway(callback_args(redis, site));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());

  auto client = open_ws(gateway, "/ws/news?subscribe-broadcast&subscribe-user&publish-broadcast");
  sync_subscription(sync, *client, "broadcast:news");
  sync.publish("user:alice:news", "dropped flag");
  expect_only_marker(sync, *client, "broadcast:news", "marker");
  // publish-broadcast was dropped too: sending is a policy violation.
  REQUIRE(client->send_text("hello"));
  CHECK(client->wait_close(5s) == 1008);

  // Nothing requested is allowed: refused.
  site.always(json(R"({"user": "alice", "allow": ["publish-user"]})"));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 403);
}

TEST_CASE("callback: 401 and 403 from the site are the handshake's answer", "[auth_callback]") {
  CallbackServer site;
  TestGateway gateway(
      {"--set", "auth.backends=callback", "--set", "auth.callback_url=" + site.url()});
  site.always(status(401));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 401);
  site.always(status(403));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 403);
  // A denial is an answer, not a failure.
  CHECK(metric_value(gateway, "wsrelay_auth_callback_failures_total") == 0);
}

TEST_CASE("callback: errors and bad answers fail closed with 503", "[auth_callback]") {
  CallbackServer site;
  TestGateway gateway(
      {"--set", "auth.backends=callback", "--set", "auth.callback_url=" + site.url()});
  const std::vector<CallbackReply> replies{
      status(500),
      status(502),
      status(404),
      json("not json"),
      json(R"({"user": 5})"),
      json(R"({"groups": "staff"})"),
      status(302, "{}"),
      json(R"([1])"),
  };
  for (const CallbackReply& reply : replies) {
    INFO(reply.status << " " << reply.body);
    site.always(reply);
    CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 503);
  }
  CHECK(metric_value(gateway, "wsrelay_auth_callback_failures_total") ==
        static_cast<long long>(replies.size()));
  // Logged, but not once per failure: at most one line a second.
  const std::string log = gateway.log();
  std::size_t lines = 0;
  for (auto at = log.find("auth callback failed"); at != std::string::npos;
       at = log.find("auth callback failed", at + 1))
    ++lines;
  CHECK(lines >= 1);
  CHECK(lines < replies.size());
  // The site recovers: the next handshake passes (failures are never cached).
  site.always(json(R"({"user": "alice"})"));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 101);
}

TEST_CASE("callback: a site that does not answer in time gives 503 at the timeout",
          "[auth_callback]") {
  CallbackServer site;
  CallbackReply slow = json(R"({"user": "alice"})");
  slow.delay = 5s;
  site.always(slow);
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url(), "--set", "auth.callback_timeout_ms=500"});
  const auto start = std::chrono::steady_clock::now();
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 503);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 2500ms);
  CHECK(metric_value(gateway, "wsrelay_auth_callback_failures_total") == 1);
}

TEST_CASE("callback: a site that is down gives 503", "[auth_callback]") {
  const std::uint16_t closed = free_port();  // nothing listens there
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=http://127.0.0.1:" + std::to_string(closed) + "/auth"});
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 503);
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user") == 503);
  CHECK(metric_value(gateway, "wsrelay_auth_callback_failures_total") == 2);
  CHECK(gateway.log().find("auth callback failed") != std::string::npos);
  CHECK(http_get(gateway.port(), "/healthz").status == 200);
}

TEST_CASE("callback: the site gets exactly what the client sent", "[auth_callback]") {
  CallbackServer site;
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url("/ws-auth/?v=1"), "--set",
                       "auth.allowed_origins=https://www.example.test"});
  const std::string target = "/ws/chat.room-1?subscribe-session&publish-user&echo&unknown=1";
  const Headers headers{{"Cookie", "sessionid=abc123; csrftoken=xyz"},
                        {"Authorization", "Bearer eyJhbGciOi.payload.sig"},
                        {"Origin", "https://www.example.test"}};
  CHECK(handshake_status(gateway, target, headers) == 101);
  REQUIRE(site.request_count() == 1);
  const RecordedRequest r = site.requests().front();
  CHECK(r.target == "/ws-auth/?v=1");
  CHECK(r.header("Host") == "127.0.0.1:" + std::to_string(site.port()));
  CHECK(r.header("Cookie") == "sessionid=abc123; csrftoken=xyz");
  CHECK(r.header("Authorization") == "Bearer eyJhbGciOi.payload.sig");
  CHECK(r.header("Origin") == "https://www.example.test");
  CHECK(r.header("X-Forwarded-For") == "127.0.0.1");
  CHECK(r.header("X-Real-IP") == "127.0.0.1");
  CHECK(r.header("X-Original-URI") == target);
  CHECK(r.header("X-WsRelay-Facility") == "chat.room-1");
  CHECK(r.header("X-WsRelay-Flags") == "subscribe-session,publish-user,echo");

  // Headers the client did not send are not invented.
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 101);
  REQUIRE(site.request_count() == 2);
  const RecordedRequest bare = site.requests().back();
  CHECK_FALSE(bare.header("Cookie"));
  CHECK_FALSE(bare.header("Authorization"));
  CHECK_FALSE(bare.header("Origin"));
  CHECK(bare.header("X-WsRelay-Flags") == "subscribe-broadcast");
}

TEST_CASE("callback: auth.callback_forward_headers passes the listed headers on, no others",
          "[auth_callback]") {
  CallbackServer site;
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url(), "--set",
                       "auth.callback_forward_headers=X-Tenant,Accept-Language"});
  // Matched in any case, sent under the configured name (every occurrence,
  // in order: the unit test of callback_request_headers).
  const Headers headers{
      {"x-tenant", "blue"}, {"Accept-Language", "fr-CH"}, {"X-Other", "not listed"}};
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast", headers) == 101);
  REQUIRE(site.request_count() == 1);
  const RecordedRequest r = site.requests().front();
  Headers tenants;
  for (const auto& [name, value] : r.headers)
    if (name == "X-Tenant") tenants.emplace_back(name, value);
  CHECK(tenants == Headers{{"X-Tenant", "blue"}});
  CHECK(r.header("Accept-Language") == "fr-CH");
  CHECK_FALSE(r.header("X-Other"));

  // A client cannot speak for wsrelay through a header it forwards: the
  // names wsrelay sets itself are refused at start, with exit code 2.
  TempDir dir;
  Process refused({WSRELAY_BINARY, "--set", "auth.backends=callback", "--set",
                   "auth.callback_url=" + site.url(), "--set",
                   "auth.callback_forward_headers=X-WsRelay-Flags", "--check-config"},
                  dir.file("check.log"));
  CHECK(refused.wait_exit(10s) == 2);
  CHECK_THAT(refused.log_contents(), Catch::Contains("auth.callback_forward_headers") &&
                                         Catch::Contains("the callback sets it itself"));
}

TEST_CASE("callback: connections to the site are kept alive and reused", "[auth_callback]") {
  CallbackServer site;
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url(), "--set",
                       "auth.callback_max_connections=2"});
  constexpr int handshakes = 20;
  for (int i = 0; i < handshakes; ++i)
    REQUIRE(handshake_status(gateway, "/ws/news?subscribe-broadcast",
                             {{"Cookie", "sessionid=s" + std::to_string(i)}}) == 101);
  CHECK(site.request_count() == handshakes);
  CHECK(site.connections_accepted() <= 2);
  CHECK(metric_value(gateway, "wsrelay_auth_callback_requests_total") == handshakes);
  CHECK(metric_value(gateway, "wsrelay_auth_callback_connections_opened_total") <= 2);

  // The site closes a connection after answering: the next request opens a
  // new one and still succeeds.
  CallbackReply closing;
  closing.close = true;
  site.always(closing);
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 101);
  site.always(CallbackReply{});
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 101);
}

TEST_CASE("callback: handshakes beyond the pool wait in a bounded queue", "[auth_callback]") {
  CallbackServer site;
  CallbackReply slow;
  slow.delay = 1s;
  site.always(slow);
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url(), "--set",
                       "auth.callback_max_connections=1", "--set", "auth.callback_max_pending=2",
                       "--set", "auth.callback_timeout_ms=10000"});
  // Three at once on one connection: one asks, two wait, all pass in turn.
  ConcurrentHandshakes first(gateway, 3);
  REQUIRE(wait_until([&] { return site.request_count() >= 1; }, 5s));
  CHECK(first.join() == std::vector<int>(3, 101));
  CHECK(site.connections_accepted() == 1);

  // With one asking and two waiting, a fourth is refused at once.
  ConcurrentHandshakes more(gateway, 3);
  REQUIRE(wait_until([&] { return site.request_count() >= 4; }, 5s));
  REQUIRE(wait_until([&] { return metric_value(gateway, "wsrelay_auth_callback_pending") == 2; },
                     5s, 20ms));
  const auto start = std::chrono::steady_clock::now();
  CHECK(handshake_status(gateway, "/ws/news?subscribe-broadcast") == 503);
  CHECK(std::chrono::steady_clock::now() - start < 800ms);  // not after a site answer
  CHECK(more.join() == std::vector<int>(3, 101));
  CHECK(metric_value(gateway, "wsrelay_auth_callback_failures_total") == 1);
}

TEST_CASE("callback: the cache answers identical handshakes without asking", "[auth_callback]") {
  RedisServer redis;
  CallbackServer site;
  site.always(json(R"({"user": "alice"})"));
  TestGateway gateway(callback_args(redis, site, {"--set", "auth.callback_cache_seconds=60"}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());
  const Headers alice{{"Cookie", "sessionid=alice-session"}};
  auto first = open_ws(gateway, "/ws/news?subscribe-user", alice);
  // The site changes its mind; the cached answer still holds for the same request.
  site.always(json(R"({"user": "mallory"})"));
  auto second = open_ws(gateway, "/ws/news?subscribe-user", alice);
  CHECK(site.request_count() == 1);
  CHECK(metric_value(gateway, "wsrelay_auth_callback_cache_hits_total") == 1);
  sync_subscriptions(sync, {first.get(), second.get()}, "user:alice:news");

  // Anything different in the request is a different question.
  auto third = open_ws(gateway, "/ws/news?subscribe-user", {{"Cookie", "sessionid=other"}});
  CHECK(site.request_count() == 2);
  sync_subscription(sync, *third, "user:mallory:news");
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user&subscribe-broadcast", alice) == 101);
  CHECK(site.request_count() == 3);

  // Failures are not cached: once the site is back, it is asked again.
  const Headers bob{{"Cookie", "sessionid=bob"}};
  site.always(status(500));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user", bob) == 503);
  site.always(json(R"({"user": "bob"})"));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user", bob) == 101);
  CHECK(site.request_count() == 5);
  // Denials are answers, and are cached.
  const Headers eve{{"Cookie", "sessionid=eve"}};
  site.always(status(403));
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user", eve) == 403);
  CHECK(handshake_status(gateway, "/ws/news?subscribe-user", eve) == 403);
  CHECK(site.request_count() == 6);
}

TEST_CASE("callback: a slow site never holds up other connections", "[auth_callback]") {
  RedisServer redis;
  CallbackServer site;
  site.set_script([](const RecordedRequest& r) {
    CallbackReply reply;
    if (r.header("Cookie") == "sessionid=slow") reply.delay = 3s;
    return reply;
  });
  // One shard: a blocking authorizer would stall every connection.
  TestGateway gateway(
      callback_args(redis, site, {"--threads", "1", "--set", "auth.callback_timeout_ms=10000"}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());
  auto listener = open_ws(gateway, "/ws/news?subscribe-broadcast");
  sync_subscription(sync, *listener, "broadcast:news");

  ConcurrentHandshakes slow(gateway, 1, {{"Cookie", "sessionid=slow"}});
  REQUIRE(wait_until([&] { return site.request_count() == 2; }, 5s));
  const auto asked = std::chrono::steady_clock::now();
  // While the slow handshake waits: the listener keeps receiving, and new
  // handshakes complete.
  for (int i = 0; i < 5; ++i) {
    const std::string payload = "live-" + std::to_string(i);
    sync.publish("broadcast:news", payload);
    std::optional<Received> m = listener->read(1s);
    REQUIRE(m);
    CHECK(m->data == payload);
  }
  auto other = open_ws(gateway, "/ws/news?subscribe-broadcast");
  CHECK(std::chrono::steady_clock::now() - asked < 2500ms);
  CHECK(slow.finished() == 0);  // still waiting for the site
  CHECK(slow.join() == std::vector<int>{101});
}

TEST_CASE("callback: SIGTERM while handshakes wait on the site exits cleanly", "[auth_callback]") {
  CallbackServer site;
  CallbackReply slow;
  slow.delay = 20s;
  site.always(slow);
  TestGateway gateway({"--set", "auth.backends=callback", "--set",
                       "auth.callback_url=" + site.url(), "--set", "auth.callback_timeout_ms=30000",
                       "--set", "shutdown.timeout_seconds=2", "--set", "shutdown.drain_seconds=1"});
  ConcurrentHandshakes waiting(gateway, 2);
  REQUIRE(wait_until([&] { return site.request_count() == 2; }, 5s));
  // The authorizer's thread and its connections are closed; under ASan a
  // leak or a use after free would make the exit status non-zero.
  gateway.signal(SIGTERM);
  CHECK(gateway.wait_exit(15s) == 0);
  for (int status : waiting.join()) CHECK(status != 101);
}
