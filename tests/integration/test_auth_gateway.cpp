// Who may listen, end to end (README "Authentication and authorization"):
// JWTs minted in the test against a real gateway and Redis, the proxy-header
// backend from trusted and untrusted peers, the Origin allowlist and the
// client address behind X-Forwarded-For.
#include "auth_helpers.hpp"
#include "support/process.hpp"

#include <wsrelay/auth/jwt.hpp>

using namespace wsrelay::test;
using nlohmann::json;

namespace {

std::vector<std::string> jwt_gateway_args(const RedisServer& redis, const JwtKeyFiles& keys,
                                          std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--set", "auth.backends=jwt",
                                "--set", "auth.jwt_keys=" + keys.jwt_keys(),
                                "--set", "auth.jwt_audience=wsrelay-test",
                                "--set", "auth.jwt_issuer=https://issuer.test",
                                "--set", "auth.jwt_query_param=access_token",
                                "--set", "log.level=debug"};
  args.insert(args.end(), more.begin(), more.end());
  return with_redis(redis, args);
}

json claims(json extra = json::object()) {
  json c = {{"aud", "wsrelay-test"}, {"iss", "https://issuer.test"}, {"exp", unix_now() + 300}};
  c.update(extra);
  return c;
}

const char* kAll = "/ws/chat?subscribe-broadcast&subscribe-user&subscribe-group&subscribe-session";

}  // namespace

TEST_CASE("jwt: each connection gets its own user, group and session channels only",
          "[gateway][auth][jwt]") {
  RedisServer redis;
  JwtKeyFiles keys;
  TestGateway gateway(jwt_gateway_args(redis, keys));
  RedisSync sync(redis.port());

  auto alice = open_ws(
      gateway, kAll,
      bearer(make_jwt(
          keys.hs,
          claims({{"sub", "alice"}, {"groups", {"staff", "admins"}}, {"session", "sess-a"}}))));
  auto bob =
      open_ws(gateway, kAll,
              bearer(make_jwt(keys.rs1,
                              claims({{"sub", "bob"}, {"groups", {"ops"}}, {"session", "sess-b"}}),
                              {{"kid", "k1"}})));
  sync_subscription(sync, *alice, "user:alice:chat");
  sync_subscription(sync, *bob, "user:bob:chat");
  sync_subscriptions(sync, {alice.get(), bob.get()}, "broadcast:chat");

  const std::vector<std::string> channels{
      "user:alice:chat",  "group:staff:chat",    "group:admins:chat",   "session:sess-a:chat",
      "user:bob:chat",    "group:ops:chat",      "session:sess-b:chat", "user:carol:chat",
      "group:other:chat", "session:sess-c:chat", "user:alice:other",    "broadcast:chat"};
  for (const auto& channel : channels) sync.publish(channel, channel);
  sync.publish("broadcast:chat", "end");

  auto received = [](WsClient& client) {
    std::vector<std::string> got;
    for (auto m = client.read(5s); m && m->data != "end"; m = client.read(5s))
      got.push_back(m->data);
    return got;
  };
  CHECK(received(*alice) == std::vector<std::string>{"user:alice:chat", "group:staff:chat",
                                                     "group:admins:chat", "session:sess-a:chat",
                                                     "broadcast:chat"});
  CHECK(received(*bob) == std::vector<std::string>{"user:bob:chat", "group:ops:chat",
                                                   "session:sess-b:chat", "broadcast:chat"});
}

TEST_CASE("jwt: the allow claim and static rules narrow the flags: 403 when none is left",
          "[gateway][auth][jwt]") {
  RedisServer redis;
  JwtKeyFiles keys;
  TestGateway gateway(
      jwt_gateway_args(redis, keys, {"--set", "auth.rules=secret-*: subscribe-user require-user"}));
  RedisSync sync(redis.port());
  const json allow = {{"chat", {"subscribe-broadcast", "publish-broadcast"}},
                      {"secret-*", {"subscribe-*"}}};
  const std::string token = make_jwt(keys.hs, claims({{"sub", "alice"}, {"allow", allow}}));

  // subscribe-user is dropped on chat; what is left works.
  auto client = open_ws(gateway, "/ws/chat?subscribe-broadcast&subscribe-user", bearer(token));
  sync_subscription(sync, *client, "broadcast:chat");
  CHECK(not_delivered(sync, *client, "broadcast:chat", "user:alice:chat"));

  auto refused = handshake(gateway, "/ws/chat?subscribe-user&subscribe-group", bearer(token));
  CHECK(refused.status == 403);
  CHECK(refused.body.find("no requested flag is allowed") != std::string::npos);
  // The facility has no entry in the claim: nothing allowed.
  CHECK(handshake(gateway, "/ws/news?subscribe-broadcast", bearer(token)).status == 403);
  // The claim allows subscribe-*, the rule only subscribe-user.
  CHECK(handshake(gateway, "/ws/secret-1?subscribe-broadcast", bearer(token)).status == 403);
  CHECK(handshake(gateway, "/ws/secret-1?subscribe-user", bearer(token)).status == 101);
  // require-user: a valid token without a user.
  auto anonymous = make_jwt(keys.hs, claims({{"allow", allow}}));
  CHECK(handshake(gateway, "/ws/secret-1?subscribe-user", bearer(anonymous)).status == 401);
}

TEST_CASE("jwt: missing, expired, early, foreign and forged tokens get 401",
          "[gateway][auth][jwt]") {
  RedisServer redis;
  JwtKeyFiles keys;
  TestGateway gateway(jwt_gateway_args(redis, keys));
  const std::string target = "/ws/chat?subscribe-user";
  auto status_of = [&](const std::string& token) {
    return handshake(gateway, target, bearer(token)).status;
  };
  const json user = {{"sub", "alice"}};

  auto none = handshake(gateway, target);
  CHECK(none.status == 401);
  CHECK(none.body == "no credential\n");
  CHECK(status_of(make_jwt(keys.hs, claims(user))) == 101);
  CHECK(status_of("garbage") == 401);
  CHECK(status_of(make_jwt(keys.hs, claims({{"sub", "a"}, {"exp", unix_now() - 3600}}))) == 401);
  CHECK(status_of(make_jwt(keys.hs, claims({{"sub", "a"}, {"nbf", unix_now() + 3600}}))) == 401);
  CHECK(status_of(make_jwt(keys.hs, claims({{"sub", "a"}, {"aud", "other"}}))) == 401);
  CHECK(status_of(make_jwt(keys.hs, claims({{"sub", "a"}, {"iss", "https://evil.test"}}))) == 401);
  // Signed with a key the gateway does not know.
  auto stranger = SigningKey::rs256();
  CHECK(status_of(make_jwt(stranger, claims(user), {{"kid", "k1"}})) == 401);
  CHECK(status_of(make_jwt(SigningKey::hs256(std::string(40, 'x')), claims(user))) == 401);
  // A valid token with its payload swapped.
  std::string good = make_jwt(keys.hs, claims(user));
  const auto dot1 = good.find('.'), dot2 = good.find('.', dot1 + 1);
  std::string forged = good.substr(0, dot1 + 1) +
                       wsrelay::base64url_encode(claims({{"sub", "admin"}}).dump()) +
                       good.substr(dot2);
  auto result = handshake(gateway, target, bearer(forged));
  CHECK(result.status == 401);
  CHECK(result.body == "invalid token: bad signature\n");
  // alg "none".
  result = handshake(gateway, target, bearer(make_unsigned_jwt(claims({{"sub", "admin"}}))));
  CHECK(result.status == 401);
  CHECK(result.body.find("\"none\" not accepted") != std::string::npos);
  // HS/RS confusion: HMAC keyed with the RSA public key's PEM, kid pointing at it.
  result = handshake(
      gateway, target,
      bearer(make_hs256_jwt_with_header({{"alg", "HS256"}, {"kid", "k1"}},
                                        claims({{"sub", "admin"}}), keys.rs1.verification_key())));
  CHECK(result.status == 401);
  CHECK(result.body.find("\"HS256\" not accepted") != std::string::npos);
  // Unknown kid.
  result = handshake(gateway, target, bearer(make_jwt(keys.rs1, claims(user), {{"kid", "k9"}})));
  CHECK(result.status == 401);
  CHECK(result.body.find("unknown key id") != std::string::npos);
  // A bad token in the header is not rescued by a good one in the query.
  CHECK(handshake(gateway, target + "&access_token=" + make_jwt(keys.hs, claims(user)),
                  bearer("garbage"))
            .status == 401);
}

TEST_CASE("jwt: rotation with kids, and a token in the query string that is never logged",
          "[gateway][auth][jwt]") {
  RedisServer redis;
  JwtKeyFiles keys;
  TestGateway gateway(jwt_gateway_args(redis, keys));
  RedisSync sync(redis.port());
  const json user = {{"sub", "alice"}};
  // The same user, one token signed by the old key and one by the new.
  auto old_key = open_ws(gateway, "/ws/chat?subscribe-user",
                         bearer(make_jwt(keys.rs1, claims(user), {{"kid", "k1"}})));
  auto new_key = open_ws(gateway, "/ws/chat?subscribe-user",
                         bearer(make_jwt(keys.rs2, claims(user), {{"kid", "k2"}})));
  // k2's token presented as k1: its signature does not match k1.
  CHECK(handshake(gateway, "/ws/chat?subscribe-user",
                  bearer(make_jwt(keys.rs2, claims(user), {{"kid", "k1"}})))
            .status == 401);

  const std::string token = make_jwt(keys.hs, claims(user));
  auto by_query =
      open_ws(gateway, "/ws/chat?subscribe-user&access_token=" + token + "&subscribe-broadcast");
  sync_subscriptions(sync, {old_key.get(), new_key.get(), by_query.get()}, "user:alice:chat");
  // The query token granted both flags around it.
  sync_subscription(sync, *by_query, "broadcast:chat");
  const auto dot = token.rfind('.');
  CHECK(gateway.log().find(token.substr(dot + 1)) == std::string::npos);
  CHECK(gateway.log().find("access_token") == std::string::npos);
}

TEST_CASE("identity claimed in the query string is ignored", "[gateway][auth]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));  // anonymous backend
  RedisSync sync(redis.port());
  auto client = open_ws(gateway,
                        "/ws/chat?subscribe-broadcast&subscribe-user&subscribe-group&"
                        "subscribe-session&user=admin&sub=admin&groups=admins&session=victim&"
                        "sessionid=victim",
                        {{"Cookie", "sessionid=mine"}});
  sync_subscription(sync, *client, "broadcast:chat");
  sync_subscription(sync, *client, "session:mine:chat");
  CHECK(not_delivered(sync, *client, "broadcast:chat", "user:admin:chat"));
  CHECK(not_delivered(sync, *client, "broadcast:chat", "group:admins:chat"));
  CHECK(not_delivered(sync, *client, "broadcast:chat", "session:victim:chat"));
}

TEST_CASE("proxy headers: believed from a trusted proxy, ignored from anyone else",
          "[gateway][auth][proxy]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  const Headers identity{{"X-WsRelay-User", "admin"},
                         {"X-WsRelay-Groups", "staff, ops"},
                         {"X-WsRelay-Session", "victim"},
                         {"Cookie", "sessionid=mine"}};
  const char* target =
      "/ws/chat?subscribe-broadcast&subscribe-user&subscribe-group&"
      "subscribe-session";
  SECTION("untrusted peer") {
    TestGateway gateway(
        with_redis(redis, {"--set", "auth.backends=proxy,anonymous", "--set",
                           "auth.trusted_proxies=10.0.0.0/8,::1", "--set", "log.level=debug"}));
    auto client = open_ws(gateway, target, identity);
    sync_subscription(sync, *client, "broadcast:chat");
    sync_subscription(sync, *client, "session:mine:chat");  // the anonymous backend decided
    CHECK(not_delivered(sync, *client, "broadcast:chat", "user:admin:chat"));
    CHECK(not_delivered(sync, *client, "broadcast:chat", "group:staff:chat"));
    CHECK(not_delivered(sync, *client, "broadcast:chat", "session:victim:chat"));
    CHECK(wait_until(
        [&] {
          return gateway.log().find("identity headers from 127.0.0.1 ignored") != std::string::npos;
        },
        5s));
  }
  SECTION("trusted peer") {
    TestGateway gateway(with_redis(redis, {"--set", "auth.backends=proxy,anonymous", "--set",
                                           "auth.trusted_proxies=127.0.0.1"}));
    auto client = open_ws(gateway, target, identity);
    sync_subscription(sync, *client, "user:admin:chat");
    sync_subscription(sync, *client, "group:staff:chat");
    sync_subscription(sync, *client, "group:ops:chat");
    sync_subscription(sync, *client, "session:victim:chat");
    CHECK(not_delivered(sync, *client, "user:admin:chat", "session:mine:chat"));
    // The proxy's allow header narrows the flags.
    Headers narrowed = identity;
    narrowed.emplace_back("X-WsRelay-Allow", "subscribe-broadcast");
    CHECK(handshake(gateway, "/ws/chat?subscribe-user", narrowed).status == 403);
    CHECK(handshake(gateway, "/ws/chat?subscribe-broadcast&subscribe-user", narrowed).status ==
          101);
  }
}

TEST_CASE("origin: same host by default, the allowlist when set, refused before auth",
          "[gateway][auth][origin]") {
  RedisServer redis;
  SECTION("default: the Origin must be the Host") {
    TestGateway gateway(with_redis(redis));
    const std::string self = "http://127.0.0.1:" + std::to_string(gateway.port());
    CHECK(handshake(gateway, "/ws/chat?subscribe-broadcast", {{"Origin", self}}).status == 101);
    CHECK(handshake(gateway, "/ws/chat?subscribe-broadcast").status == 101);  // no Origin
    auto refused =
        handshake(gateway, "/ws/chat?subscribe-broadcast", {{"Origin", "https://evil.example"}});
    CHECK(refused.status == 403);
    CHECK(refused.body == "origin not allowed\n");
    CHECK(http_get(gateway.port(), "/metrics")
              .body.find("wsrelay_handshakes_origin_refused_total 1\n") != std::string::npos);
  }
  SECTION("allowlist, checked before the backends") {
    JwtKeyFiles keys;
    TestGateway gateway(with_redis(
        redis, {"--set", "auth.backends=jwt", "--set", "auth.jwt_keys=" + keys.jwt_keys(), "--set",
                "auth.allowed_origins=https://*.example.com,http://localhost:3000"}));
    const std::string token = make_jwt(keys.hs, {{"sub", "alice"}});
    auto with_origin = [&](const std::string& origin) {
      Headers headers = bearer(token);
      headers.emplace_back("Origin", origin);
      return handshake(gateway, "/ws/chat?subscribe-user", headers).status;
    };
    CHECK(with_origin("https://app.example.com") == 101);
    CHECK(with_origin("http://localhost:3000") == 101);
    CHECK(with_origin("https://example.com") == 403);
    CHECK(with_origin("http://app.example.com") == 403);
    CHECK(with_origin("http://127.0.0.1:" + std::to_string(gateway.port())) == 403);
    // Not a plain scheme://host[:port]: refused before matching, although a
    // text matcher would find ".example.com" at the end of each.
    CHECK(with_origin("https://evil.com#.example.com") == 403);
    CHECK(with_origin("https://evil.com?.example.com") == 403);
    CHECK(with_origin("https://evil.com\\.example.com") == 403);
    CHECK(with_origin("https://evil.com@a.example.com") == 403);
    // No token and a bad Origin: the Origin answers first.
    CHECK(handshake(gateway, "/ws/chat?subscribe-user", {{"Origin", "https://evil.example"}})
              .status == 403);
    CHECK(handshake(gateway, "/ws/chat?subscribe-user", {{"Origin", "https://a.example.com"}})
              .status == 401);
  }
}

TEST_CASE("X-Forwarded-For names the client only behind a trusted proxy", "[gateway][auth][xff]") {
  RedisServer redis;
  const Headers forwarded{{"X-Forwarded-For", "6.6.6.6, 203.0.113.7"}};
  auto logged_from = [](const Gateway& gateway, const std::string& address) {
    return wait_until(
        [&] {
          return gateway.log().find("/chat from " + address + " (peer 127.0.0.1)") !=
                 std::string::npos;
        },
        5s);
  };
  SECTION("trusted peer: the rightmost untrusted hop") {
    TestGateway gateway(with_redis(
        redis, {"--set", "auth.trusted_proxies=127.0.0.0/8", "--set", "log.level=debug"}));
    open_ws(gateway, "/ws/chat?subscribe-broadcast", forwarded);
    CHECK(logged_from(gateway, "203.0.113.7"));
    CHECK(gateway.log().find("6.6.6.6") == std::string::npos);
  }
  SECTION("untrusted peer: the header is ignored") {
    TestGateway gateway(with_redis(
        redis, {"--set", "auth.trusted_proxies=10.0.0.0/8", "--set", "log.level=debug"}));
    open_ws(gateway, "/ws/chat?subscribe-broadcast", forwarded);
    CHECK(logged_from(gateway, "127.0.0.1"));
    CHECK(gateway.log().find("203.0.113.7") == std::string::npos);
  }
}

TEST_CASE("auth configuration errors stop the start with exit code 2", "[gateway][auth]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--set", "auth.backends=ldap"}, "auth.backends: unknown or unavailable backend"},
      {{"--set", "auth.backends=callback"}, "auth.callback_url: the callback backend needs"},
      {{"--set", "auth.backends=jwt", "--set", "auth.jwt_keys=RS256 /nonexistent/key.pem"},
       "auth.jwt_keys: /nonexistent/key.pem (RS256): cannot read the file"},
      {{"--set", "auth.trusted_proxies=10.0.0.1/8"}, "auth.trusted_proxies:"},
      {{"--set", "auth.jwt_keys=HS256 /etc/wsrelay/hs.key"},
       "auth.jwt_keys: set, but \"jwt\" is not in auth.backends"}};
  expect_config_refused(cases);
}
