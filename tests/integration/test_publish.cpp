// Publishing from anywhere, end to end: wsrelay-publish and POST /api/publish
// against a real redis-server and real gateways, delivering to WebSocket
// clients of each audience; the stored last message; every refusal of the
// API with its status and JSON error; the memory engine with no Redis.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "support/process.hpp"
#include "support/raw_ws_client.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;

namespace {

constexpr const char* key_a = "key-a-0123456789abcdef";
constexpr const char* key_b = "key-b-0123456789abcdef";

// The identity a trusted proxy gives every client of these tests.
const Headers identity{
    {"X-WsRelay-User", "john"}, {"X-WsRelay-Groups", "staff"}, {"X-WsRelay-Session", "s1"}};

// Gateway flags: identities from proxy headers (127.0.0.1 is trusted).
std::vector<std::string> proxy_auth(std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--set", "auth.backends=proxy", "--set",
                                "auth.trusted_proxies=127.0.0.1"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// One client per audience of `facility`, each subscribed to that one only.
struct Audiences {
  std::unique_ptr<WsClient> broadcast, user, group, session;

  Audiences(const Gateway& gateway, const std::string& facility)
      : broadcast(open_ws(gateway, "/ws/" + facility + "?subscribe-broadcast", identity)),
        user(open_ws(gateway, "/ws/" + facility + "?subscribe-user", identity)),
        group(open_ws(gateway, "/ws/" + facility + "?subscribe-group", identity)),
        session(open_ws(gateway, "/ws/" + facility + "?subscribe-session", identity)) {}

  // `expected` receives `message` (as text or binary), and no other client
  // receives anything.
  void expect_only(WsClient* expected, const std::string& message, bool binary = false) {
    for (WsClient* client : {broadcast.get(), user.get(), group.get(), session.get()}) {
      if (client != expected) continue;
      auto got = client->read(5s);
      REQUIRE(got);
      CHECK(got->data == message);
      CHECK(got->binary == binary);
    }
    for (WsClient* client : {broadcast.get(), user.get(), group.get(), session.get()})
      if (client != expected) CHECK(client->expect_no_message(150ms));
  }
};

struct CliResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs wsrelay-publish with `args`, `input` on its standard input.
CliResult run_cli(const std::vector<std::string>& args, const std::string& input = {}) {
  TempDir dir("wsrelay-publish");
  std::vector<std::string> argv{"sh", "-c", "printf %s \"$0\" | \"$@\"", input,
                                WSRELAY_PUBLISH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Process process(argv, dir.file("log"), {}, {"WSRELAY_"});
  CliResult result;
  const auto code = process.wait_exit(20s);
  REQUIRE(code);
  result.code = *code;
  result.output = process.log_contents();
  return result;
}

Headers json_with(const std::string& key) {
  return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}};
}

HttpResult post(const Gateway& gateway, const nlohmann::json& body,
                const std::string& key = key_a) {
  return http_request(gateway.port(), "POST", "/api/publish", json_with(key), body.dump());
}

std::string error_of(const HttpResult& result) {
  INFO(result.body);
  const auto body = nlohmann::json::parse(result.body);
  return body.at("error").get<std::string>();
}

long long metric(const Gateway& gateway, const std::string& name) {
  const std::string text = http_get(gateway.port(), "/metrics").body;
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("wsrelay-publish: each audience, stdin, the stored last message and --fetch",
          "[publish][cli]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(with_redis(redis, proxy_auth({"--prefix", "p"})));
  Audiences clients(gateway, "cli");
  const std::vector<std::string> base{"--redis", redis.url(), "--prefix", "p", "-f", "cli"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> args = base;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };

  auto r = run_cli(with({"--user", "john", "--expire", "0", "to john"}));
  INFO(r.output);
  REQUIRE(r.code == 0);
  clients.expect_only(clients.user.get(), "to john");
  CHECK_FALSE(sync.get("p:user:john:cli"));  // --expire 0: nothing stored

  REQUIRE(run_cli(with({"--group", "staff", "-g", "nobody", "to staff"})).code == 0);
  clients.expect_only(clients.group.get(), "to staff");
  REQUIRE(run_cli(with({"--session", "s1", "to s1"})).code == 0);
  clients.expect_only(clients.session.get(), "to s1");
  // The message from standard input, bytes as they are.
  r = run_cli(with({"--broadcast", "--expire", "60"}), "from stdin\n\"x\"");
  REQUIRE(r.code == 0);
  clients.expect_only(clients.broadcast.get(), "from stdin\n\"x\"");

  // Stored for --expire seconds, replayed to a client that connects later,
  // and printed by --fetch, exactly.
  const long long ttl = sync.ttl("p:broadcast:cli");
  CHECK(ttl > 0);
  CHECK(ttl <= 60);
  auto later = open_ws(gateway, "/ws/cli?subscribe-broadcast", identity);
  auto replayed = later->read(5s);
  REQUIRE(replayed);
  CHECK(replayed->data == "from stdin\n\"x\"");
  r = run_cli(with({"--broadcast", "--fetch"}));
  CHECK(r.code == 0);
  CHECK(r.output == "from stdin\n\"x\"");
  CHECK(run_cli(with({"--session", "s1", "--fetch"})).output == "to s1");
  // Nothing stored: exit 1, nothing printed.
  r = run_cli(with({"--user", "john", "--fetch"}));
  CHECK(r.code == 1);
  CHECK(r.output.empty());

  // Usage errors exit 2; a Redis that refuses (AUTH on a server without a
  // password) or cannot be reached exits 3, each with a line saying why.
  r = run_cli(with({"--user", "", "x"}));
  CHECK(r.code == 2);
  CHECK_THAT(r.output, Catch::Contains("an empty user name"));
  r = run_cli({"--redis", "redis://:secret@127.0.0.1:" + std::to_string(redis.port()), "-f", "cli",
               "-b", "x"});
  CHECK(r.code == 3);
  CHECK_THAT(r.output, Catch::Contains("AUTH refused"));
  CHECK(r.output.find("secret") == std::string::npos);
  const std::uint16_t closed = free_port();
  r = run_cli({"--redis", "redis://127.0.0.1:" + std::to_string(closed), "-f", "cli", "-b", "x"});
  CHECK(r.code == 3);
  CHECK_THAT(r.output, Catch::Contains("cannot connect"));
  clients.expect_only(nullptr, "");
}

TEST_CASE("POST /api/publish: each audience, through Redis to every gateway", "[publish][api]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  const std::vector<std::string> api{"--set", "publish_api.enabled=true", "--set",
                                     std::string("publish_api.keys=") + key_a};
  TestGateway publisher(with_redis(redis, proxy_auth(api)));
  TestGateway other(with_redis(redis, proxy_auth()));  // no API of its own
  Audiences clients(other, "api");

  auto r = post(publisher, {{"facility", "api"}, {"users", {"john"}}, {"message", "to john"}});
  INFO(r.body);
  CHECK(r.status == 202);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(nlohmann::json::parse(r.body) == nlohmann::json{{"channels", 1}});
  clients.expect_only(clients.user.get(), "to john");
  CHECK(
      post(publisher, {{"facility", "api"}, {"groups", {"staff", "x"}}, {"message", "g"}}).status ==
      202);
  clients.expect_only(clients.group.get(), "g");
  CHECK(
      post(publisher, {{"facility", "api"}, {"sessions", {"s1"}}, {"message", "s"}, {"expire", 0}})
          .status == 202);
  clients.expect_only(clients.session.get(), "s");
  CHECK_FALSE(sync.get("session:s1:api"));  // expire 0: not stored
  CHECK(post(publisher, {{"facility", "api"}, {"broadcast", true}, {"message", "all"}}).status ==
        202);
  clients.expect_only(clients.broadcast.get(), "all");
  // redis.expire_seconds (3600) when the request names none.
  CHECK(sync.ttl("broadcast:api") > 3500);

  // The binary form: the target in the query, any bytes as the message.
  const std::string binary("\x00\xff\x01 bin", 7);
  r = http_request(publisher.port(), "POST", "/api/publish?facility=api&user=john&expire=30",
                   {{"Content-Type", "application/octet-stream"},
                    {"Authorization", std::string("Bearer ") + key_a}},
                   binary);
  CHECK(r.status == 202);
  clients.expect_only(clients.user.get(), binary, true);
  CHECK(sync.get("user:john:api") == binary);

  // A client connecting later gets the stored message first.
  auto later = open_ws(other, "/ws/api?subscribe-broadcast", identity);
  auto replayed = later->read(5s);
  REQUIRE(replayed);
  CHECK(replayed->data == "all");
  CHECK(metric(publisher, "wsrelay_api_publishes_total") == 5);
  CHECK(metric(publisher, "wsrelay_api_publish_refused_total") == 0);
}

TEST_CASE("POST /api/publish refusals: keys, JSON, types, size, method: nothing published",
          "[publish][api]") {
  RedisServer redis;
  TempDir dir;
  write_file(dir.file("keys"), std::string("# the next key\n") + key_b + "\n");
  TestGateway gateway(with_redis(redis, {"--set", "publish_api.enabled=true", "--set",
                                         "publish_api.max_body_bytes=4096", "--set",
                                         "publish_api.keys_file=" + dir.file("keys")}),
                      {std::string("WSRELAY_PUBLISH_API_KEYS=") + key_a});
  auto client = open_ws(gateway, "/ws/ref?subscribe-broadcast");
  const nlohmann::json good{{"facility", "ref"}, {"broadcast", true}, {"message", "ok"}};

  // Keys: none, wrong, each of the two accepted (rotation).
  auto r = http_request(gateway.port(), "POST", "/api/publish",
                        {{"Content-Type", "application/json"}}, good.dump());
  CHECK(r.status == 401);
  CHECK(r.header("WWW-Authenticate") == "Bearer");
  CHECK_THAT(error_of(r), Catch::StartsWith("missing API key"));
  r = post(gateway, good, "key-a-0123456789abcdeX");
  CHECK(r.status == 401);
  CHECK(error_of(r) == "wrong API key");
  r = http_request(gateway.port(), "POST", "/api/publish",
                   {{"Content-Type", "application/json"}, {"Authorization", key_a}}, good.dump());
  CHECK(r.status == 401);  // not a Bearer credential
  CHECK(post(gateway, good, key_b).status == 202);
  REQUIRE(client->read(5s)->data == "ok");
  CHECK(post(gateway, good, key_a).status == 202);
  REQUIRE(client->read(5s)->data == "ok");

  struct Case {
    std::string body;
    int status;
    const char* says;
  };
  const std::vector<Case> cases{
      {"{\"facility\": \"ref\", \"broadcast\": true, \"message\": ", 400, "malformed JSON"},
      {"not json", 400, "malformed JSON"},
      {R"({"facility":"ref","broadcast":"yes","message":"x"})", 400, "\"broadcast\" must be"},
      {R"({"facility":"ref","broadcast":true,"message":5})", 400, "\"message\" must be a string"},
      {R"({"facility":"ref","users":"john","message":"x"})", 400, "\"users\" must be an array"},
      {R"({"facility":"r:ef","broadcast":true,"message":"x"})", 400, "facility must be"},
      {R"({"facility":"ref","message":"x"})", 400, "no audience"},
      {R"({"facility":"ref","broadcast":true,"message":"x","topic":1})", 400, "unknown field"},
      {R"({"facility":"ref","broadcast":true,"message":")" + std::string(5000, 'x') + "\"}", 413,
       "max_body_bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.body.substr(0, 80));
    r = http_request(gateway.port(), "POST", "/api/publish", json_with(key_a), c.body);
    CHECK(r.status == c.status);
    CHECK_THAT(error_of(r), Catch::Contains(c.says));
  }
  r = http_request(
      gateway.port(), "POST", "/api/publish",
      {{"Content-Type", "text/plain"}, {"Authorization", std::string("Bearer ") + key_a}}, "x");
  CHECK(r.status == 415);
  r = http_request(gateway.port(), "GET", "/api/publish", json_with(key_a));
  CHECK(r.status == 405);
  CHECK(r.header("Allow") == "POST");

  // None of the refused requests published anything; the gateway still serves.
  CHECK(client->expect_no_message(200ms));
  CHECK(post(gateway, good, key_b).status == 202);
  CHECK(client->read(5s)->data == "ok");
  CHECK(metric(gateway, "wsrelay_api_publishes_total") == 3);
  CHECK(metric(gateway, "wsrelay_api_publish_refused_total") == 14);
  // The log has no key and no client bytes, however many were sent.
  const std::string log = gateway.log();
  CHECK(log.find(key_a) == std::string::npos);
  CHECK(log.find("key-a-0123456789abcdeX") == std::string::npos);
}

TEST_CASE("POST /api/publish: off by default, admin_only keeps it off the main listener",
          "[publish][api]") {
  RedisServer redis;
  {
    TestGateway gateway(with_redis(redis));
    const auto r = http_request(gateway.port(), "POST", "/api/publish", json_with(key_a),
                                R"({"facility":"x","broadcast":true,"message":"m"})");
    CHECK(r.status == 404);
  }
  const std::uint16_t admin = free_port();
  TestGateway gateway(with_redis(
      redis, {"--set", "publish_api.enabled=true", "--set",
              std::string("publish_api.keys=") + key_a, "--set", "publish_api.admin_only=true",
              "--set", "server.admin_listen=127.0.0.1:" + std::to_string(admin)}));
  auto client = open_ws(gateway, "/ws/x?subscribe-broadcast");
  const std::string body = R"({"facility":"x","broadcast":true,"message":"m"})";
  CHECK(http_request(gateway.port(), "POST", "/api/publish", json_with(key_a), body).status == 404);
  CHECK(client->expect_no_message(150ms));
  // Served on the admin listener, and delivered to the main one's clients.
  CHECK(http_request(admin, "POST", "/api/publish", json_with(key_a), body).status == 202);
  auto got = client->read(5s);
  REQUIRE(got);
  CHECK(got->data == "m");
}

TEST_CASE("POST /api/publish on the memory engine: no Redis at all", "[publish][api][memory]") {
  TestGateway gateway(
      {"--set", "publish_api.enabled=true", "--set", std::string("publish_api.keys=") + key_a});
  auto client = open_ws(gateway, "/ws/mem?subscribe-broadcast");
  const auto r =
      post(gateway, {{"facility", "mem"}, {"broadcast", true}, {"message", "no redis needed"}});
  INFO(r.body);
  CHECK(r.status == 202);
  auto got = client->read(5s);
  REQUIRE(got);
  CHECK(got->data == "no redis needed");
  // Stored by the memory engine too, and replayed to the next client.
  auto later = open_ws(gateway, "/ws/mem?subscribe-broadcast");
  auto replayed = later->read(5s);
  REQUIRE(replayed);
  CHECK(replayed->data == "no redis needed");
}

TEST_CASE("POST /api/publish: a chunked body over the limit is 413, and nothing is published",
          "[publish][api]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "publish_api.enabled=true", "--set",
                                         "publish_api.max_body_bytes=4096"}),
                      {std::string("WSRELAY_PUBLISH_API_KEYS=") + key_a});
  auto client = open_ws(gateway, "/ws/chunk?subscribe-broadcast");
  auto send_chunked = [&](const std::string& body) {
    RawWsClient raw;
    raw.connect_tcp(gateway.port());
    std::string request = std::string("POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
                          "Content-Type: application/json\r\nAuthorization: Bearer " + key_a +
                          "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    // In chunks of 1000 bytes, none of them alone over the limit.
    for (std::size_t at = 0; at < body.size(); at += 1000) {
      const std::string chunk = body.substr(at, 1000);
      char size[16];
      std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
      request += size + chunk + "\r\n";
    }
    request += "0\r\n\r\n";
    REQUIRE(raw.send_raw(request));
    auto response = raw.wait_http_response(5s);
    REQUIRE(response);
    return *response;
  };
  const std::string over =
      R"({"facility":"chunk","broadcast":true,"message":")" + std::string(6000, 'x') + "\"}";
  const auto refused = send_chunked(over);
  CHECK(refused.status == 413);
  CHECK_THAT(error_of(refused), Catch::Contains("max_body_bytes"));
  CHECK(client->expect_no_message(200ms));
  // The same framing within the limit is published (positive control).
  const auto accepted = send_chunked(R"({"facility":"chunk","broadcast":true,"message":"ok"})");
  CHECK(accepted.status == 202);
  auto m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "ok");
  CHECK(metric(gateway, "wsrelay_api_publish_refused_total") == 1);
}

TEST_CASE("POST /api/publish: 503 while Redis is down, 202 again once it is back",
          "[publish][api]") {
  RedisServer redis;
  TestGateway gateway(
      with_redis(redis, {"--set", "publish_api.enabled=true", "--set", "redis.reconnect_min_ms=20",
                         "--set", "redis.reconnect_max_ms=100"}),
      {std::string("WSRELAY_PUBLISH_API_KEYS=") + key_a});
  REQUIRE(wait_readyz(gateway, 200, 10s));
  const nlohmann::json body{{"facility", "down"}, {"broadcast", true}, {"message", "m"}};
  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 5s));
  const auto refused = post(gateway, body);
  CHECK(refused.status == 503);
  CHECK_THAT(error_of(refused), Catch::Contains("backend unavailable"));
  CHECK(metric(gateway, "wsrelay_api_publish_refused_total") == 1);

  redis.start();
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto client = open_ws(gateway, "/ws/down?subscribe-broadcast");
  CHECK(post(gateway, body).status == 202);
  auto m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "m");
}
