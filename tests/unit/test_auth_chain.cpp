// The backend chain (allow / deny / abstain), static rules and the
// allowed-channels rule, the proxy and jwt backends as make_authorizer()
// builds them from a config, and the [auth] keys' validation.
#include <catch2/catch.hpp>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/metrics.hpp>

#include "support/jwt_mint.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay;
using Catch::Matchers::Contains;

namespace {

// A backend that answers with a fixed decision and counts its calls.
class Fixed final : public Authorizer {
 public:
  explicit Fixed(AuthDecision decision, int* calls = nullptr)
      : decision_(std::move(decision)), calls_(calls) {}
  void authorize(const AuthRequest&, std::function<void(AuthDecision)> done) override {
    if (calls_) ++*calls_;
    done(decision_);
  }

 private:
  AuthDecision decision_;
  int* calls_;
};

AuthDecision abstain() {
  AuthDecision d;
  d.abstain = true;
  return d;
}
AuthDecision deny(int status) {
  AuthDecision d;
  d.status = status;
  d.reason = "denied";
  return d;
}
AuthDecision allow(std::optional<std::string> user, Flags flags = all_flags) {
  AuthDecision d;
  d.identity.user = std::move(user);
  d.allowed = flags;
  return d;
}

AuthDecision run(Authorizer& a, const AuthRequest& request) {
  std::optional<AuthDecision> out;
  a.authorize(request, [&](AuthDecision d) { out = std::move(d); });
  REQUIRE(out);  // every backend here answers synchronously
  return *out;
}

AuthRequest request(std::string facility, Flags requested) {
  AuthRequest r;
  r.facility = std::move(facility);
  r.requested = requested;
  return r;
}

std::unique_ptr<ChainAuthorizer> chain(std::vector<AuthDecision> answers,
                                       std::vector<std::string> rules = {},
                                       std::vector<int>* calls = nullptr) {
  std::vector<std::unique_ptr<Authorizer>> backends;
  if (calls) calls->assign(answers.size(), 0);
  for (std::size_t i = 0; i < answers.size(); ++i)
    backends.push_back(std::make_unique<Fixed>(answers[i], calls ? &(*calls)[i] : nullptr));
  std::vector<StaticRule> parsed;
  for (const auto& text : rules) {
    std::string error;
    parsed.push_back(*parse_rule(text, error));
  }
  return std::make_unique<ChainAuthorizer>(std::move(backends), std::move(parsed));
}

// As at start: config.hpp checks the values, then the authorization layer
// what only it can (backend names, key files).
Config validated(std::vector<std::pair<std::string, std::string>> settings) {
  Config c;
  for (const auto& [key, value] : settings) set_config_value(c, key, value);
  validate(c);
  load_auth(c);
  return c;
}

std::string validate_error(std::vector<std::pair<std::string, std::string>> settings) {
  try {
    validated(std::move(settings));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("chain: the first backend that does not abstain decides", "[auth][chain]") {
  std::vector<int> calls;
  auto c = chain({abstain(), allow("alice"), allow("bob")}, {}, &calls);
  auto d = run(*c, request("chat", subscribe_user));
  CHECK(d.status == 0);
  CHECK(d.identity.user == "alice");
  CHECK(calls == std::vector<int>{1, 1, 0});

  // A deny stops the chain: a bad credential never falls through.
  c = chain({deny(401), allow("bob")}, {}, &calls);
  CHECK(run(*c, request("chat", subscribe_user)).status == 401);
  CHECK(calls == std::vector<int>{1, 0});
  c = chain({deny(503), allow("bob")});
  CHECK(run(*c, request("chat", subscribe_user)).status == 503);

  // Everyone abstains: 401.
  c = chain({abstain(), abstain()});
  d = run(*c, request("chat", subscribe_broadcast));
  CHECK(d.status == 401);
  CHECK(d.reason == "no credential");
  CHECK(run(*chain({}), request("chat", 0)).status == 401);
}

TEST_CASE("chain: requested flags outside the allowed set are dropped, none left is 403",
          "[auth][chain]") {
  auto c = chain({allow("alice", subscribe_broadcast | publish_user)});
  auto d = run(*c, request("chat", subscribe_broadcast | subscribe_user));
  CHECK(d.status == 0);
  CHECK((d.allowed & (subscribe_broadcast | subscribe_user)) == subscribe_broadcast);
  CHECK((d.allowed & echo) != 0);  // echo is not a permission
  d = run(*c, request("chat", subscribe_user | subscribe_group | echo));
  CHECK(d.status == 403);
  CHECK_THAT(d.reason, Contains("chat"));
  // Asking for nothing is not refused (a connection that only sends nothing).
  CHECK(run(*c, request("chat", 0)).status == 0);
  CHECK(run(*c, request("chat", echo)).status == 0);
}

TEST_CASE("chain: static rules intersect, first match wins, require-user", "[auth][chain]") {
  std::vector<std::string> rules{"admin-*: subscribe-* require-user", "chat: subscribe-broadcast",
                                 "internal:", "chat*: publish-broadcast"};
  auto anonymous = chain({allow(std::nullopt)}, rules);
  auto alice = chain({allow("alice", subscribe_broadcast | subscribe_user)}, rules);

  auto d = run(*anonymous, request("admin-x", subscribe_broadcast));
  CHECK(d.status == 401);
  CHECK_THAT(d.reason, Contains("requires a user"));
  d = run(*alice, request("admin-x", subscribe_broadcast | subscribe_user | publish_broadcast));
  CHECK(d.status == 0);
  CHECK((d.allowed & publish_broadcast) == 0);  // the rule does not allow it
  CHECK((d.allowed & subscribe_user) != 0);

  // "chat" matches its own rule first, not "chat*".
  d = run(*anonymous, request("chat", subscribe_broadcast | publish_broadcast));
  CHECK(d.status == 0);
  CHECK((d.allowed & all_flags & ~Flags(echo)) == subscribe_broadcast);
  CHECK(run(*anonymous, request("chat", publish_broadcast)).status == 403);
  CHECK(run(*anonymous, request("chatroom", publish_broadcast)).status == 0);
  // A rule with no flags closes the facility.
  CHECK(run(*alice, request("internal", subscribe_broadcast)).status == 403);
  // No rule matches: the backend's decision stands.
  d = run(*alice, request("other", subscribe_user));
  CHECK(d.status == 0);
  CHECK((d.allowed & subscribe_user) != 0);
  // The intersection with the backend: rule allows subscribe-*, backend not group.
  CHECK(run(*alice, request("admin-x", subscribe_group)).status == 403);
  // Rules never turn a backend's deny into an allow.
  CHECK(run(*chain({deny(403)}, rules), request("other", subscribe_broadcast)).status == 403);
}

TEST_CASE("proxy backend: headers only from trusted peers", "[auth][proxy]") {
  Config config = validated({{"auth.backends", "proxy,anonymous"},
                             {"auth.trusted_proxies", "10.0.0.0/8"},
                             {"auth.proxy_user_header", "X-User"}});
  Metrics metrics;
  auto authorizer = make_authorizer(config, load_auth(config), metrics);
  AuthRequest r = request("chat", subscribe_user | subscribe_group | subscribe_session);
  r.cookie = "sessionid=cookie-session";
  r.headers = {{"x-user", " alice "},
               {"x-wsrelay-groups", "staff, ops,,"},
               {"x-wsrelay-session", "s9"},
               {"x-wsrelay-allow", "subscribe-user subscribe-group"}};

  r.from_trusted_proxy = true;
  auto d = run(*authorizer, r);
  CHECK(d.status == 0);
  CHECK(d.identity.user == "alice");
  CHECK(d.identity.groups == std::vector<std::string>{"staff", "ops"});
  CHECK(d.identity.session == "s9");
  CHECK((d.allowed & subscribe_session) == 0);
  CHECK((d.allowed & subscribe_group) != 0);

  // The same headers from anyone else: ignored, the anonymous backend decides.
  r.from_trusted_proxy = false;
  d = run(*authorizer, r);
  CHECK(d.status == 0);
  CHECK_FALSE(d.identity.user);
  CHECK(d.identity.groups.empty());
  CHECK(d.identity.session == "cookie-session");

  // A trusted proxy that sends no identity header: abstain.
  r.from_trusted_proxy = true;
  r.headers.clear();
  d = run(*authorizer, r);
  CHECK_FALSE(d.identity.user);
  CHECK(d.identity.session == "cookie-session");
}

TEST_CASE("jwt backend: Bearer, then cookie, then query token; none abstains", "[auth][jwt]") {
  test::TempDir dir("wsrelay-jwt");
  auto key = test::SigningKey::hs256("this-is-a-long-enough-shared-secret-1234");
  key.write_verification_key(dir.file("hs.key"));
  Config config = validated({{"auth.backends", "jwt"},
                             {"auth.jwt_keys", "HS256 " + dir.file("hs.key")},
                             {"auth.jwt_cookie", "jwt"},
                             {"auth.jwt_query_param", "access_token"}});
  Metrics metrics;
  auto authorizer = make_authorizer(config, load_auth(config), metrics);
  auto token = [&](const char* user) { return test::make_jwt(key, {{"sub", user}}); };
  AuthRequest r = request("chat", subscribe_user);

  CHECK(run(*authorizer, r).status == 401);  // nothing: abstain, then no backend left
  CHECK(run(*authorizer, r).reason == "no credential");
  r.query_token = token("from-query");
  CHECK(run(*authorizer, r).identity.user == "from-query");
  r.cookie = "a=b; jwt=" + token("from-cookie");
  CHECK(run(*authorizer, r).identity.user == "from-cookie");
  r.authorization = "Bearer " + token("from-header");
  CHECK(run(*authorizer, r).identity.user == "from-header");
  r.authorization = "bearer  " + token("lower-case") + " ";
  CHECK(run(*authorizer, r).identity.user == "lower-case");
  r.authorization = "Basic dXNlcjpwYXNz";  // not ours: the cookie is next
  CHECK(run(*authorizer, r).identity.user == "from-cookie");
  r.authorization = "Bearer not-a-token";
  auto d = run(*authorizer, r);
  CHECK(d.status == 401);
  CHECK_THAT(d.reason, Contains("invalid token"));
}

TEST_CASE("config: the [auth] keys are checked and name themselves", "[auth][config]") {
  CHECK(validated({}).auth_backends == std::vector<std::string>{"anonymous"});
  CHECK_THAT(validate_error({{"auth.backends", "anonymous,ldap"}}),
             Contains("auth.backends: unknown or unavailable backend \"ldap\""));
  CHECK_THAT(validate_error({{"auth.backends", "callback"}}),
             Contains("auth.callback_url: the callback backend needs the site's URL"));
  CHECK_THAT(validate_error({{"auth.callback_url", "http://127.0.0.1:9/auth"}}),
             Contains("\"callback\" is not in auth.backends"));
  CHECK_THAT(validate_error({{"auth.backends", "jwt,jwt"}}), Contains("listed twice"));
  CHECK_THAT(validate_error({{"auth.backends", ""}}), Contains("at least one backend"));
  CHECK_THAT(validate_error({{"auth.backends", "jwt"}}),
             Contains("auth.jwt_keys: the jwt backend needs at least one key"));
  CHECK_THAT(
      validate_error({{"auth.backends", "jwt"}, {"auth.jwt_keys", "RS256 /nonexistent.pem"}}),
      Contains("auth.jwt_keys: /nonexistent.pem (RS256): cannot read the file"));
  CHECK_THAT(validate_error({{"auth.jwt_keys", "XS256 /k"}}), Contains("auth.jwt_keys:"));
  // Keys without the backend would leave the gateway anonymous: refused.
  CHECK(validate_error({{"auth.jwt_keys", "HS256 /etc/wsrelay/hs.key"}}) ==
        "auth.jwt_keys: set, but \"jwt\" is not in auth.backends (no token would be checked)");
  CHECK_THAT(validate_error({{"auth.backends", "anonymous,proxy"},
                             {"auth.trusted_proxies", "10.0.0.0/8"},
                             {"auth.jwt_keys", "HS256 /etc/wsrelay/hs.key"}}),
             Contains("\"jwt\" is not in auth.backends"));
  CHECK_THAT(validate_error({{"auth.backends", "proxy"}}), Contains("auth.trusted_proxies:"));
  CHECK_THAT(validate_error({{"auth.trusted_proxies", "10.0.0.1/8"}}),
             Contains("auth.trusted_proxies: \"10.0.0.1/8\" is not an address or CIDR block"));
  CHECK_THAT(validate_error({{"auth.allowed_origins", "example.com"}}),
             Contains("auth.allowed_origins:"));
  CHECK_THAT(validate_error({{"auth.rules", "chat: subscribe-all"}}),
             Contains("auth.rules: \"chat: subscribe-all\": unknown word"));
  CHECK_THAT(validate_error({{"auth.jwt_cookie", "a b"}}), Contains("auth.jwt_cookie:"));
  CHECK_THAT(validate_error({{"auth.jwt_query_param", "a&b"}}), Contains("auth.jwt_query_param:"));
  CHECK_THAT(validate_error({{"auth.jwt_query_param", "echo"}}), Contains("is a flag name"));
  CHECK_THAT(validate_error({{"auth.proxy_user_header", "X User"}}),
             Contains("auth.proxy_user_header:"));
  CHECK_THAT(validate_error({{"auth.jwt_leeway_seconds", "-1"}}),
             Contains("auth.jwt_leeway_seconds:"));

  Config c = validated({{"auth.trusted_proxies", "10.0.0.0/8, ::1"},
                        {"auth.rules", "chat: subscribe-broadcast require-user, *: subscribe-*"}});
  CHECK(c.trusted_proxy_blocks.size() == 2);
  REQUIRE(c.static_rules.size() == 2);
  CHECK(c.static_rules[0].require_user);

  // Array-of-strings rules from the file, with the line in the error.
  Config from_file = parse_config_toml(
      "[auth]\nrules = [\"chat-*: subscribe-broadcast, publish-user\", \"*: subscribe-*\"]\n",
      "wsrelay.toml");
  validate(from_file);
  CHECK(from_file.static_rules.size() == 2);
  try {
    parse_config_toml("[auth]\n\nrules = [\"chat subscribe-broadcast\"]\n", "wsrelay.toml");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("wsrelay.toml:3: auth.rules:"));
  }
  std::map<std::string, std::string> env{{"WSRELAY_TRUSTED_PROXIES", "10.0.0.0/8"},
                                         {"WSRELAY_AUTH_BACKENDS", "proxy,anonymous"}};
  Config from_env;
  apply_environment(from_env, env);
  validate(from_env);
  CHECK(from_env.auth_backends == std::vector<std::string>{"proxy", "anonymous"});
}
