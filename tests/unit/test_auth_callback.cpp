// The pure parts of the HTTP callback backend: the callback URL, what the
// site is sent, the answer cache's key, and the mapping from the site's
// answer (status + JSON body) to a decision.
#include <catch2/catch.hpp>

#include <wsrelay/auth/auth_callback.hpp>
#include <wsrelay/auth/auth_callback_wire.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/config/config_auth.hpp>

using namespace wsrelay;
using Catch::Matchers::Contains;

namespace {

constexpr Flags kSubscribeAll =
    subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session;

std::string url_error(std::string_view url) {
  std::string reason;
  if (parse_callback_url(url, &reason)) return "<parsed>";
  return reason;
}

}  // namespace

TEST_CASE("parse_callback_url takes http://host[:port]/path", "[auth_callback]") {
  auto url = parse_callback_url("http://127.0.0.1:8000/wsrelay/auth/?x=1");
  REQUIRE(url);
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == 8000);
  CHECK(url->target == "/wsrelay/auth/?x=1");

  url = parse_callback_url("HTTP://app.internal");
  REQUIRE(url);
  CHECK(url->host == "app.internal");
  CHECK(url->port == 80);
  CHECK(url->target == "/");

  url = parse_callback_url("http://[::1]:9000?q");
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->port == 9000);
  CHECK(url->target == "/?q");

  // The colons of an IPv6 address are not a port separator.
  url = parse_callback_url("http://[::1]/auth");
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->port == 80);
  CHECK(url->target == "/auth");
}

TEST_CASE("parse_callback_url refuses what it cannot send", "[auth_callback]") {
  CHECK_THAT(url_error("https://example.com/auth"), Contains("http://"));
  CHECK_THAT(url_error("example.com/auth"), Contains("http://"));
  CHECK_THAT(url_error("http:///auth"), Contains("no host"));
  CHECK_THAT(url_error("http://host:0/"), Contains("port"));
  CHECK_THAT(url_error("http://host:65536/"), Contains("port"));
  CHECK_THAT(url_error("http://host:x/"), Contains("port"));
  CHECK_THAT(url_error("http://host:/"), Contains("port"));
  CHECK_THAT(url_error("http://user:pw@host/"), Contains("credentials"));
  CHECK_THAT(url_error("http://host/a b"), Contains("whitespace"));
  CHECK_THAT(url_error("http://host/a\r\nX: y"), Contains("whitespace"));
  CHECK_THAT(url_error("http://host/#frag"), Contains("fragment"));
  CHECK_THAT(url_error("http://[::1/"), Contains("IPv6"));
  CHECK_THAT(url_error("http://[::1]:/"), Contains("port"));
  CHECK_THAT(url_error("http://[::1]x/"), Contains("':'"));
}

TEST_CASE("the Host header names the host, and the port unless it is 80", "[auth_callback]") {
  CHECK(callback_host_header(CallbackUrl{"app.internal", 80, "/auth"}) == "app.internal");
  CHECK(callback_host_header(CallbackUrl{"127.0.0.1", 8000, "/auth"}) == "127.0.0.1:8000");
  CHECK(callback_host_header(CallbackUrl{"::1", 80, "/auth"}) == "[::1]");
  CHECK(callback_host_header(CallbackUrl{"::1", 9000, "/auth"}) == "[::1]:9000");
}

TEST_CASE("the site is sent the client's credentials, address, URI, facility and flags",
          "[auth_callback]") {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  AuthRequest request;
  request.facility = "chat";
  request.requested = subscribe_broadcast | publish_user;
  request.target = "/ws/chat?subscribe-broadcast&publish-user";
  request.cookie = "sessionid=abc";
  request.authorization = "Bearer t";
  request.origin = "https://site.example";
  request.remote_address = "203.0.113.7";
  request.peer_address = "10.0.0.1";
  request.query_token = "secret";
  request.headers = {{"X-Other", "not forwarded"}};
  CHECK(callback_request_headers(request) ==
        Headers{{"Cookie", "sessionid=abc"},
                {"Authorization", "Bearer t"},
                {"Origin", "https://site.example"},
                {"X-Forwarded-For", "203.0.113.7"},
                {"X-Real-IP", "203.0.113.7"},
                {"X-Original-URI", "/ws/chat?subscribe-broadcast&publish-user"},
                {"X-WsRelay-Facility", "chat"},
                {"X-WsRelay-Flags", "subscribe-broadcast,publish-user"}});

  // What the client did not send is left out, not sent empty; the URI, the
  // facility and the flags always go.
  AuthRequest bare;
  bare.facility = "news";
  bare.target = "/ws/news";
  CHECK(callback_request_headers(bare) == Headers{{"X-Original-URI", "/ws/news"},
                                                  {"X-WsRelay-Facility", "news"},
                                                  {"X-WsRelay-Flags", ""}});
}

TEST_CASE("callback headers: auth.callback_forward_headers adds the listed ones",
          "[auth_callback]") {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  AuthRequest request;
  request.facility = "news";
  request.target = "/ws/news";
  request.headers = {
      {"accept-language", "de"}, {"X-Tenant", "blue"}, {"X-Other", "no"}, {"X-TENANT", "green"}};
  CHECK(callback_request_headers(request, {"X-Tenant", "Accept-Language", "X-Absent"}) ==
        Headers{{"X-Original-URI", "/ws/news"},
                {"X-WsRelay-Facility", "news"},
                {"X-WsRelay-Flags", ""},
                {"X-Tenant", "blue"},
                {"X-Tenant", "green"},
                {"Accept-Language", "de"}});

  // A forwarded header is part of what the site sees, so of the cache key.
  const std::string key = callback_cache_key(request, {"X-Tenant"});
  CHECK(key != callback_cache_key(request));
  AuthRequest other_tenant = request;
  other_tenant.headers[1].second = "red";
  CHECK(callback_cache_key(other_tenant, {"X-Tenant"}) != key);
  AuthRequest other_unlisted = request;
  other_unlisted.headers[2].second = "changed";
  CHECK(callback_cache_key(other_unlisted, {"X-Tenant"}) == key);
}

TEST_CASE("auth.callback_forward_headers refuses what the callback sets itself",
          "[auth_callback][config]") {
  Config config;
  auto check = [&config](std::vector<std::string> names) {
    config.auth_callback_forward_headers = std::move(names);
    return check_callback_forward_headers(config);
  };
  CHECK(check({}).empty());
  CHECK(check({"X-Tenant", "Accept-Language"}).empty());
  for (std::string name : {"Host", "cookie", "AUTHORIZATION", "Origin", "X-Forwarded-For",
                           "X-Real-IP", "X-Original-URI", "x-wsrelay-flags", "X-WsRelay-User",
                           "Connection", "Upgrade", "Content-Length", "Transfer-Encoding"}) {
    INFO(name);
    CHECK_THAT(check({name}), Catch::Contains("cannot be forwarded"));
  }
  CHECK_THAT(check({"X Tenant"}), Catch::Contains("not a valid header name"));
  CHECK_THAT(check({""}), Catch::Contains("not a valid header name"));
  CHECK_THAT(check({"X-Tenant", "x-tenant"}), Catch::Contains("listed twice"));
  CHECK_THAT(check(std::vector<std::string>(33, "X-A")), Catch::Contains("at most 32"));
}

TEST_CASE("handshakes share a cached answer only when the site is sent the same",
          "[auth_callback]") {
  AuthRequest base;
  base.facility = "chat";
  base.requested = subscribe_broadcast;
  base.target = "/ws/chat?subscribe-broadcast";
  base.cookie = "sessionid=abc";
  base.authorization = "Bearer t";
  base.origin = "https://site.example";
  base.remote_address = "203.0.113.7";
  const std::string key = callback_cache_key(base);

  // What the site never sees cannot change its answer.
  AuthRequest unseen = base;
  unseen.peer_address = "10.0.0.2";
  unseen.from_trusted_proxy = true;
  unseen.query_token = "other";
  unseen.headers = {{"X-Other", "1"}};
  CHECK(callback_cache_key(unseen) == key);

  // Everything the site sees can.
  const std::vector<void (*)(AuthRequest&)> changes = {
      [](AuthRequest& r) { r.cookie = "sessionid=xyz"; },
      [](AuthRequest& r) { r.authorization.clear(); },
      [](AuthRequest& r) { r.origin = "https://other.example"; },
      [](AuthRequest& r) { r.remote_address = "203.0.113.8"; },
      [](AuthRequest& r) { r.target = "/ws/chat?subscribe-user"; },
      [](AuthRequest& r) { r.facility = "news"; },
      [](AuthRequest& r) { r.requested = subscribe_user; },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    INFO("change " << i);
    AuthRequest changed = base;
    changes[i](changed);
    CHECK(callback_cache_key(changed) != key);
  }
}

TEST_CASE("auth.callback_url is checked when it is set", "[auth_callback][config]") {
  Config config;
  CHECK_NOTHROW(set_config_value(config, "auth.callback_url", "http://127.0.0.1:8000/auth"));
  CHECK(config.auth_callback_url == "http://127.0.0.1:8000/auth");
  try {
    set_config_value(config, "auth.callback_url", "https://127.0.0.1/auth");
    FAIL("no ConfigError");
  } catch (const ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("auth.callback_url"));
  }
  CHECK_THROWS_AS(set_config_value(config, "auth.callback_timeout_ms", "0"), ConfigError);
  CHECK_THROWS_AS(set_config_value(config, "auth.callback_max_connections", "0"), ConfigError);
}

TEST_CASE("a 200 answer gives the identity it names", "[auth_callback]") {
  const AuthDecision d = callback_decision(
      200, R"({"user": "alice", "groups": ["staff", "ops"], "session": "s-1"})", kSubscribeAll);
  CHECK(d.status == 0);
  CHECK(d.identity.user == "alice");
  CHECK(d.identity.groups == std::vector<std::string>{"staff", "ops"});
  CHECK(d.identity.session == "s-1");
  CHECK(d.allowed == all_flags);  // no "allow": every requested flag
}

TEST_CASE("null, empty and absent fields mean none", "[auth_callback]") {
  for (const char* body : {R"({})", R"({"user": null, "groups": null, "session": null})",
                           R"({"user": "", "groups": [], "session": ""})"}) {
    INFO(body);
    const AuthDecision d = callback_decision(200, body, subscribe_broadcast);
    CHECK(d.status == 0);
    CHECK_FALSE(d.identity.user);
    CHECK(d.identity.groups.empty());
    CHECK_FALSE(d.identity.session);
  }
}

TEST_CASE("allow keeps only the flags it names", "[auth_callback]") {
  AuthDecision d = callback_decision(
      200, R"({"user": "a", "allow": ["subscribe-user", "publish-user", "no-such-flag"]})",
      kSubscribeAll | publish_broadcast);
  CHECK(d.status == 0);
  CHECK(d.allowed == (subscribe_user | publish_user));

  // Nothing requested is allowed: 403, as ws4redis's allowed-channels rule.
  d = callback_decision(200, R"({"user": "a", "allow": ["publish-user"]})", subscribe_broadcast);
  CHECK(d.status == 403);
  d = callback_decision(200, R"({"user": "a", "allow": []})", subscribe_broadcast);
  CHECK(d.status == 403);
}

TEST_CASE("401 and 403 are denials with that status", "[auth_callback]") {
  CHECK(callback_decision(401, "", subscribe_broadcast).status == 401);
  CHECK(callback_decision(403, "{}", subscribe_broadcast).status == 403);
}

TEST_CASE("anything else fails closed with 503", "[auth_callback]") {
  for (int status : {201, 204, 301, 302, 400, 404, 500, 502, 503})
    CHECK(callback_decision(status, R"({"user": "a"})", subscribe_broadcast).status == 503);
  for (const char* body :
       {"", "not json", "[1, 2]", "\"alice\"", "null", R"({"user": 5})", R"({"user": ["a"]})",
        R"({"session": {}})", R"({"groups": "staff"})", R"({"groups": ["a", 1]})",
        R"({"allow": "subscribe-user"})", R"({"allow": [true]})", R"({"user": "a")"}) {
    INFO(body);
    const AuthDecision d = callback_decision(200, body, subscribe_broadcast);
    CHECK(d.status == 503);
    CHECK_FALSE(d.reason.empty());
  }
}
