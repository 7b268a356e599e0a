// JWT verification: signatures of the three algorithms, the guards against
// algorithm confusion, time and audience claims, key rotation, and how claims
// map to an identity and per-facility flags.
#include <fstream>

#include <catch2/catch.hpp>

#include <wsrelay/auth/jwt.hpp>
#include <wsrelay/config/config.hpp>

#include "support/jwt_mint.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay;
using namespace wsrelay::test;
using nlohmann::json;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

// A token checked at this fixed time.
constexpr std::int64_t kNow = 1'800'000'000;

struct Keys {
  TempDir dir{"wsrelay-jwt"};
  SigningKey hs = SigningKey::hs256(kSecret);
  SigningKey rs = SigningKey::rs256();
  SigningKey es = SigningKey::es256();
  SigningKey rs_other = SigningKey::rs256();

  Keys() {
    hs.write_verification_key(dir.file("hs.key"));
    rs.write_verification_key(dir.file("rs.pem"));
    es.write_verification_key(dir.file("es.pem"));
    rs_other.write_verification_key(dir.file("rs-other.pem"));
  }
  std::string spec(const char* alg, const char* file, const char* kid = "") {
    return std::string(alg) + " " + dir.file(file) + (*kid ? std::string(" ") + kid : "");
  }
};

Keys& keys() {
  static Keys k;  // RSA key generation is the slow part: once per run
  return k;
}

JwtSettings settings(std::vector<std::string> specs) {
  JwtSettings s;
  for (const auto& text : specs) {
    std::string error;
    auto spec = parse_jwt_key_spec(text, error);
    INFO(error);
    REQUIRE(spec);
    s.keys.push_back(*spec);
  }
  return s;
}

// "" when valid, else the reason.
std::string check(const JwtVerifier& v, const std::string& token, std::int64_t now = kNow) {
  std::string error;
  auto grant = v.verify(token, "chat", now, error);
  if (grant) return "";
  REQUIRE_FALSE(error.empty());
  return error;
}

}  // namespace

TEST_CASE("jwt: HS256, RS256 and ES256 tokens verify with their keys", "[jwt]") {
  Keys& k = keys();
  JwtVerifier v(
      settings({k.spec("HS256", "hs.key"), k.spec("RS256", "rs.pem"), k.spec("ES256", "es.pem")}));
  json claims = {{"sub", "alice"}, {"exp", kNow + 60}};
  CHECK(check(v, make_jwt(k.hs, claims)) == "");
  CHECK(check(v, make_jwt(k.rs, claims)) == "");
  CHECK(check(v, make_jwt(k.es, claims)) == "");
  // Signed by a key the gateway does not have.
  CHECK(check(v, make_jwt(k.rs_other, claims)) == "bad signature");
  CHECK(check(v, make_jwt(SigningKey::hs256(kSecret + "x"), claims)) == "bad signature");
}

TEST_CASE("jwt: tampering and malformed tokens are refused", "[jwt]") {
  Keys& k = keys();
  JwtVerifier v(settings({k.spec("RS256", "rs.pem")}));
  const std::string good = make_jwt(k.rs, {{"sub", "alice"}});
  const auto dot1 = good.find('.');
  const auto dot2 = good.find('.', dot1 + 1);
  // Same signature, payload claiming another user.
  const std::string forged = good.substr(0, dot1 + 1) +
                             base64url_encode(json({{"sub", "admin"}}).dump()) + good.substr(dot2);
  CHECK(check(v, forged) == "bad signature");
  CHECK(check(v, "") == "malformed token");
  CHECK(check(v, "a.b") == "malformed token");
  CHECK(check(v, "a.b.c.d") == "malformed token");
  CHECK(check(v, good + "!") == "malformed token");
  CHECK(check(v, base64url_encode("[1]") + "." + base64url_encode("{}") + ".") ==
        "malformed token");
  CHECK(check(v, std::string(20000, 'a')) == "token too long");
}

TEST_CASE("jwt: a signature in non-canonical base64url is refused", "[jwt]") {
  Keys& k = keys();
  JwtVerifier v(settings({k.spec("RS256", "rs.pem"), k.spec("HS256", "hs.key")}));
  for (const SigningKey* key : {&k.rs, &k.hs}) {
    const std::string good = make_jwt(*key, {{"sub", "alice"}});
    REQUIRE(check(v, good) == "");
    // The next character of the alphabet differs only in the unused low
    // bits of the last one (a 256-byte RSA and a 32-byte HMAC signature both
    // leave some): the signature decodes to the same bytes, so it would
    // verify if the spelling were not checked.
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string altered = good;
    altered.back() = alphabet[alphabet.find(good.back()) + 1];
    CHECK(check(v, altered) == "malformed token");
  }
}

TEST_CASE("jwt: the algorithm comes from the key, never from the token", "[jwt]") {
  Keys& k = keys();
  JwtVerifier v(settings({k.spec("RS256", "rs.pem")}));
  json claims = {{"sub", "admin"}};
  CHECK(check(v, make_unsigned_jwt(claims)) == "algorithm \"none\" not accepted");
  // HS/RS confusion: HMAC keyed with the RSA public key the attacker knows.
  const std::string confused = make_hs256_jwt_with_header({{"alg", "HS256"}, {"typ", "JWT"}},
                                                          claims, k.rs.verification_key());
  CHECK(check(v, confused) == "algorithm \"HS256\" not accepted");
  // An ES256 header on an RSA-signed token is refused the same way.
  CHECK(check(v, make_hs256_jwt_with_header({{"alg", "ES256"}}, claims, "x")) ==
        "algorithm \"ES256\" not accepted");
  CHECK(check(v, make_hs256_jwt_with_header({{"typ", "JWT"}}, claims, "x")) == "token without alg");
}

TEST_CASE("jwt: exp and nbf with leeway, aud and iss when configured", "[jwt]") {
  Keys& k = keys();
  JwtSettings s = settings({k.spec("HS256", "hs.key")});
  s.leeway_seconds = 10;
  JwtVerifier v(s);
  CHECK(check(v, make_jwt(k.hs, {{"exp", kNow - 5}})) == "");  // within the leeway
  CHECK(check(v, make_jwt(k.hs, {{"exp", kNow - 10}})) == "token expired");
  CHECK(check(v, make_jwt(k.hs, {{"exp", kNow - 3600}})) == "token expired");
  CHECK(check(v, make_jwt(k.hs, {{"exp", "soon"}})) == "exp is not a number");
  CHECK(check(v, make_jwt(k.hs, {{"nbf", kNow + 5}})) == "");
  CHECK(check(v, make_jwt(k.hs, {{"nbf", kNow + 11}})) == "token not yet valid");
  CHECK(check(v, make_jwt(k.hs, {{"sub", "a"}})) == "");  // neither claim: no time limit
  // aud/iss not configured: not checked.
  CHECK(check(v, make_jwt(k.hs, {{"aud", "other"}, {"iss", "other"}})) == "");

  s.audience = "wsrelay";
  s.issuer = "https://auth.example.com";
  JwtVerifier strict(s);
  const json iss = "https://auth.example.com";
  CHECK(check(strict, make_jwt(k.hs, {{"aud", "wsrelay"}, {"iss", iss}})) == "");
  CHECK(check(strict, make_jwt(k.hs, {{"aud", {"x", "wsrelay"}}, {"iss", iss}})) == "");
  CHECK(check(strict, make_jwt(k.hs, {{"aud", "other"}, {"iss", iss}})) == "wrong audience");
  CHECK(check(strict, make_jwt(k.hs, {{"iss", iss}})) == "wrong audience");
  CHECK(check(strict, make_jwt(k.hs, {{"aud", "wsrelay"}, {"iss", "https://evil"}})) ==
        "wrong issuer");
  CHECK(check(strict, make_jwt(k.hs, {{"aud", "wsrelay"}})) == "wrong issuer");
}

TEST_CASE("jwt: several keys for rotation, selected by kid or tried in turn", "[jwt]") {
  Keys& k = keys();
  json claims = {{"sub", "alice"}};
  SECTION("without kids every key of the algorithm is tried") {
    JwtVerifier v(settings({k.spec("RS256", "rs-other.pem"), k.spec("RS256", "rs.pem")}));
    CHECK(check(v, make_jwt(k.rs, claims)) == "");
    CHECK(check(v, make_jwt(k.rs_other, claims)) == "");
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", "whatever"}})) == "");
  }
  SECTION("a kid selects its key only") {
    JwtVerifier v(
        settings({k.spec("RS256", "rs.pem", "new"), k.spec("RS256", "rs-other.pem", "old")}));
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", "new"}})) == "");
    CHECK(check(v, make_jwt(k.rs_other, claims, {{"kid", "old"}})) == "");
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", "old"}})) == "bad signature");
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", "gone"}})) == "unknown key id \"gone\"");
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", 7}})) == "kid is not a string");
    // The reason goes into the 401 body and the log: a kid cannot forge a line.
    CHECK(check(v, make_jwt(k.rs, claims, {{"kid", "k\r\n2030-01-01 info forged"}})) ==
          "unknown key id \"k\\r\\n2030-01-01 info forged\"");
    // The kid exists but is an RS256 key: an HS256 token naming it is refused.
    CHECK(check(v, make_hs256_jwt_with_header({{"alg", "HS256"}, {"kid", "new"}}, claims,
                                              k.rs.verification_key())) ==
          "algorithm \"HS256\" not accepted");
    CHECK(check(v, make_jwt(k.rs, claims)) == "");  // no kid: tried in turn
  }
}

TEST_CASE("jwt: claims map to the identity and per-facility flags", "[jwt]") {
  Keys& k = keys();
  JwtSettings s = settings({k.spec("HS256", "hs.key")});
  JwtVerifier v(s);
  std::string error;
  auto grant = v.verify(make_jwt(k.hs, {{"sub", "alice"},
                                        {"groups", {"staff", "", 3, "ops"}},
                                        {"session", "s1"},
                                        {"allow",
                                         {{"chat", {"subscribe-broadcast", "publish-user", "?"}},
                                          {"news-*", {"subscribe-*"}},
                                          {"*", json::array()}}}}),
                        "chat", kNow, error);
  REQUIRE(grant);
  CHECK(grant->identity.user == "alice");
  CHECK(grant->identity.groups == std::vector<std::string>{"staff", "ops"});
  CHECK(grant->identity.session == "s1");
  CHECK(grant->allowed == (subscribe_broadcast | publish_user));

  auto token = make_jwt(k.hs, {{"sub", 42}, {"allow", {{"news-*", {"subscribe-*"}}}}});
  grant = v.verify(token, "news-eu", kNow, error);
  REQUIRE(grant);
  CHECK(grant->identity.user == "42");
  CHECK(grant->identity.groups.empty());
  CHECK_FALSE(grant->identity.session);
  CHECK(grant->allowed ==
        (subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session));
  grant = v.verify(token, "chat", kNow, error);
  REQUIRE(grant);
  CHECK(grant->allowed == 0);

  // No allow claim: every flag (static rules may still narrow them).
  grant = v.verify(make_jwt(k.hs, {{"sub", "bob"}, {"groups", "solo"}}), "chat", kNow, error);
  REQUIRE(grant);
  CHECK(grant->allowed == all_flags);
  CHECK(grant->identity.groups == std::vector<std::string>{"solo"});

  CHECK(check(v, make_jwt(k.hs, {{"allow", {"chat"}}})) == "allow claim is not an object");
  CHECK(check(v, make_jwt(k.hs, {{"allow", {{"chat", "subscribe-user"}}}})) ==
        "allow claim entries must be arrays of flag names");
  CHECK(check(v, make_jwt(k.hs, {{"groups", 5}})) ==
        "groups claim is neither a string nor an array");

  s.user_claim = "preferred_username";
  s.groups_claim = "roles";
  s.session_claim = "sid";
  s.allow_claim = "";
  JwtVerifier renamed(s);
  grant = renamed.verify(make_jwt(k.hs, {{"sub", "x"},
                                         {"preferred_username", "carol"},
                                         {"roles", {"admin"}},
                                         {"sid", "abc"},
                                         {"allow", 1}}),
                         "chat", kNow, error);
  REQUIRE(grant);
  CHECK(grant->identity.user == "carol");
  CHECK(grant->identity.groups == std::vector<std::string>{"admin"});
  CHECK(grant->identity.session == "abc");
  CHECK(grant->allowed == all_flags);
}

TEST_CASE("jwt: key files are checked when the verifier is built", "[jwt]") {
  Keys& k = keys();
  auto error_of = [](std::vector<std::string> specs) -> std::string {
    try {
      JwtVerifier v(settings(std::move(specs)));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "<no error>";
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(error_of({k.spec("RS256", "missing.pem")}), Contains("cannot read the file"));
  CHECK_THAT(error_of({k.spec("RS256", "hs.key")}), Contains("not a PEM public key"));
  CHECK_THAT(error_of({k.spec("RS256", "es.pem")}), Contains("RSA public key"));
  CHECK_THAT(error_of({k.spec("ES256", "rs.pem")}), Contains("P-256"));
  { std::ofstream(k.dir.file("short.key")) << "too short\n"; }
  CHECK_THAT(error_of({k.spec("HS256", "short.key")}), Contains("at least 32 bytes"));
  CHECK_THAT(error_of({k.spec("RS256", "rs.pem")}), Contains("<no error>"));

  std::string error;
  CHECK_FALSE(parse_jwt_key_spec("RS256", error));
  CHECK_FALSE(parse_jwt_key_spec("none /x", error));
  CHECK_FALSE(parse_jwt_key_spec("HS256 /x kid extra", error));
  auto spec = parse_jwt_key_spec("  ES256   /etc/k.pem  k1 ", error);
  REQUIRE(spec);
  CHECK(spec->alg == "ES256");
  CHECK(spec->path == "/etc/k.pem");
  CHECK(spec->kid == "k1");
}

TEST_CASE("base64url round-trips and refuses foreign characters", "[jwt]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    CHECK(base64url_decode(base64url_encode(s)) == s);
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  // Unused bits of the last character set: the same bytes as "-_8" and "Zg",
  // written another way, are refused.
  CHECK_FALSE(base64url_decode("-_9"));
  CHECK_FALSE(base64url_decode("-_-"));
  CHECK(base64url_decode("Zg") == "f");
  CHECK_FALSE(base64url_decode("Zh"));
  CHECK_FALSE(base64url_decode("Zv"));
  CHECK_FALSE(base64url_decode("ab+c"));
  CHECK_FALSE(base64url_decode("abc="));
  CHECK_FALSE(base64url_decode("a"));
}
