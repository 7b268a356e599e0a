#pragma once
// The authorization layer's settings: the [auth] table, and server.session_cookie
// (the anonymous backend's cookie). Plain data. config.hpp loads them and
// checks each value's form (with the file line, variable or flag it came
// from); what only the authorization layer can check — the backend names of
// its registry, the JWT key files — it checks when it is built from them
// (auth.hpp: load_auth, make_authorizer).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/auth_rules.hpp>
#include <wsrelay/wire/cidr.hpp>

namespace wsrelay {

// One `auth.jwt_keys` entry, written "ALG PATH [KID]": HS256 with a file
// holding the shared secret (at least 32 bytes; one trailing newline is not
// part of it), RS256 with a PEM RSA public key (2048 bits or more), ES256
// with a PEM P-256 public key.
struct JwtKeySpec {
  std::string alg;
  std::string path;
  std::string kid;  // empty: the key has no id
};
std::optional<JwtKeySpec> parse_jwt_key_spec(std::string_view text, std::string& error);

// Where the callback goes: `http://host[:port]/path[?query]`.
struct CallbackUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, as sent on the request line
};

// The parsed URL, or the reason `url` is not one (http:// only; no user
// info, no fragment, no whitespace).
std::optional<CallbackUrl> parse_callback_url(std::string_view url, std::string* reason = nullptr);

// (README "Authentication and authorization")
struct AuthSettings {
  std::string session_cookie = "sessionid";                // the [server] key
  std::vector<std::string> auth_backends = {"anonymous"};  // the chain, in order
  std::vector<std::string> allowed_origins;                // empty = the Origin must match the Host
  std::vector<std::string> trusted_proxies;                // CIDR blocks whose headers are believed
  std::vector<std::string> auth_rules;                     // "PATTERN: FLAG ... [require-user]"
  std::vector<std::string> jwt_keys;                       // "ALG PATH [KID]"
  std::string jwt_cookie;       // empty = tokens are not read from cookies
  std::string jwt_query_param;  // empty = tokens are not read from the URL
  std::string jwt_audience;
  std::string jwt_issuer;
  int jwt_leeway_seconds = 30;
  std::string jwt_user_claim = "sub";
  std::string jwt_groups_claim = "groups";
  std::string jwt_session_claim = "session";
  std::string jwt_allow_claim = "allow";
  std::string proxy_user_header = "X-WsRelay-User";
  std::string proxy_groups_header = "X-WsRelay-Groups";
  std::string proxy_session_header = "X-WsRelay-Session";
  std::string proxy_allow_header = "X-WsRelay-Allow";

  std::string auth_callback_url;  // http://host[:port]/path; empty = no HTTP callback
  int auth_callback_timeout_ms = 2000;
  std::size_t auth_callback_max_connections = 16;
  std::size_t auth_callback_max_pending = 1000;  // handshakes waiting for a free connection
  int auth_callback_cache_seconds = 0;           // 0 = every handshake asks the site
  std::size_t auth_callback_cache_max_entries = 10000;
  // Further request headers the callback passes on to the site (a
  // ws4redis hook that reads one), beside Cookie, Authorization and Origin.
  std::vector<std::string> auth_callback_forward_headers;

  // Derived by validate(): parsed forms of the strings above.
  std::vector<CidrBlock> trusted_proxy_blocks;
  std::vector<StaticRule> static_rules;

  bool operator==(const AuthSettings&) const = default;
};

}  // namespace wsrelay
