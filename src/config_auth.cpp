#include <wsrelay/config_auth.hpp>

#include <algorithm>

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>

#include <wsrelay/auth.hpp>
#include <wsrelay/config.hpp>
#include <wsrelay/jwt.hpp>
#include <wsrelay/origin.hpp>
#include <wsrelay/protocol.hpp>

namespace wsrelay {
namespace {

bool uses_backend(const Config& c, std::string_view name) {
  return std::find(c.auth_backends.begin(), c.auth_backends.end(), name) != c.auth_backends.end();
}

}  // namespace

std::string check_auth_backends(const Config& c) {
  const auto names = authorizer_names();
  if (c.auth_backends.empty()) return "needs at least one backend, e.g. [\"anonymous\"]";
  for (std::size_t i = 0; i < c.auth_backends.size(); ++i) {
    const std::string& name = c.auth_backends[i];
    if (std::find(names.begin(), names.end(), name) == names.end())
      return fmt::format("unknown or unavailable backend \"{}\" (available: {})", name,
                         fmt::join(names, ", "));
    if (std::find(c.auth_backends.begin(), c.auth_backends.begin() + static_cast<long>(i), name) !=
        c.auth_backends.begin() + static_cast<long>(i))
      return fmt::format("backend \"{}\" is listed twice", name);
  }
  return {};
}

std::string check_allowed_origins(const Config& c) {
  for (const std::string& origin : c.allowed_origins)
    if (auto reason = check_origin_pattern(origin); !reason.empty()) return reason;
  return {};
}

std::string check_cidr_blocks(const std::vector<std::string>& blocks) {
  for (const std::string& block : blocks)
    if (!parse_cidr(block))
      return fmt::format(
          "\"{}\" is not an address or CIDR block (e.g. 10.0.0.0/8, 127.0.0.1, ::1/128; host "
          "bits must be zero)",
          block);
  return {};
}

std::string check_trusted_proxies(const Config& c) {
  return check_cidr_blocks(c.trusted_proxies);
}

std::string check_auth_rules(const Config& c) {
  std::string error;
  for (const std::string& rule : c.auth_rules)
    if (!parse_rule(rule, error)) return error;
  return {};
}

std::string check_jwt_keys(const Config& c) {
  std::string error;
  for (const std::string& key : c.jwt_keys)
    if (!parse_jwt_key_spec(key, error)) return error;
  return {};
}

std::string check_header_name(const std::string& name) {
  if (is_token(name)) return {};
  return fmt::format("\"{}\" is not a valid header name", name);
}

// Why some names are refused: the callback sets these itself (a second
// copy would let the client speak for wsrelay, e.g. a forged X-WsRelay-Flags
// or X-Forwarded-For), or they describe the connection to wsrelay, not the
// handshake (hop-by-hop, framing).
std::string check_callback_forward_headers(const Config& c) {
  static constexpr std::string_view kRefused[] = {"Host",
                                                  "User-Agent",
                                                  "Cookie",
                                                  "Authorization",
                                                  "Origin",
                                                  "X-Forwarded-For",
                                                  "X-Real-IP",
                                                  "X-Original-URI",
                                                  "Connection",
                                                  "Keep-Alive",
                                                  "Upgrade",
                                                  "Transfer-Encoding",
                                                  "TE",
                                                  "Trailer",
                                                  "Content-Length",
                                                  "Proxy-Connection",
                                                  "Proxy-Authorization",
                                                  "Expect"};
  constexpr std::size_t kMaxNames = 32;
  const auto& names = c.auth_callback_forward_headers;
  if (names.size() > kMaxNames) return fmt::format("at most {} header names", kMaxNames);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (!is_token(name)) return fmt::format("\"{}\" is not a valid header name", name);
    const bool own = boost::beast::iequals(std::string_view(name).substr(0, 10), "X-WsRelay-");
    if (own || std::any_of(std::begin(kRefused), std::end(kRefused),
                           [&](std::string_view r) { return boost::beast::iequals(name, r); }))
      return fmt::format(
          "\"{}\" cannot be forwarded: the callback sets it itself, or it is "
          "about the connection, not the handshake",
          name);
    for (std::size_t j = 0; j < i; ++j)
      if (boost::beast::iequals(names[j], name)) return fmt::format("\"{}\" is listed twice", name);
  }
  return {};
}

std::string check_jwt_cookie(const Config& c) {
  if (c.jwt_cookie.empty() || is_token(c.jwt_cookie)) return {};
  return fmt::format("\"{}\" is not a valid cookie name", c.jwt_cookie);
}

std::string check_jwt_query_param(const Config& c) {
  const std::string& p = c.jwt_query_param;
  if (p.empty() || (is_token(p) && p.find_first_of("&=%+") == std::string::npos)) return {};
  return fmt::format("\"{}\" is not a valid query parameter name", p);
}

void validate_auth(Config& config) {
  if (config.jwt_query_param.size() && flag_from_name(config.jwt_query_param))
    throw ConfigError(
        fmt::format("auth.jwt_query_param: \"{}\" is a flag name", config.jwt_query_param));
  config.trusted_proxy_blocks.clear();
  for (const std::string& block : config.trusted_proxies)
    config.trusted_proxy_blocks.push_back(*parse_cidr(block));
  config.static_rules.clear();
  std::string error;
  for (const std::string& rule : config.auth_rules)
    config.static_rules.push_back(*parse_rule(rule, error));

  // A backend that could never answer is a configuration mistake, not a
  // silent abstention on every request.
  if (uses_backend(config, "proxy") && config.trusted_proxies.empty())
    throw ConfigError(
        "auth.trusted_proxies: the proxy backend needs at least one trusted proxy address");
  if (uses_backend(config, "jwt")) {
    if (config.jwt_keys.empty())
      throw ConfigError("auth.jwt_keys: the jwt backend needs at least one key");
    JwtVerifier check(jwt_settings(config));  // throws ConfigError naming the file
  }
  // Keys without the backend: the operator meant tokens to be checked, and
  // the gateway would run with whatever the other backends allow instead.
  if (!uses_backend(config, "jwt") && !config.jwt_keys.empty())
    throw ConfigError(
        "auth.jwt_keys: set, but \"jwt\" is not in auth.backends (no token would be checked)");
  if (uses_backend(config, "callback") && config.auth_callback_url.empty())
    throw ConfigError("auth.callback_url: the callback backend needs the site's URL");
  if (!uses_backend(config, "callback") && !config.auth_callback_url.empty())
    throw ConfigError(
        "auth.callback_url: set, but \"callback\" is not in auth.backends (nothing would ask it)");
}

JwtSettings jwt_settings(const Config& config) {
  JwtSettings settings;
  std::string error;
  for (const std::string& key : config.jwt_keys)
    if (auto spec = parse_jwt_key_spec(key, error)) settings.keys.push_back(std::move(*spec));
  settings.audience = config.jwt_audience;
  settings.issuer = config.jwt_issuer;
  settings.leeway_seconds = config.jwt_leeway_seconds;
  settings.user_claim = config.jwt_user_claim;
  settings.groups_claim = config.jwt_groups_claim;
  settings.session_claim = config.jwt_session_claim;
  settings.allow_claim = config.jwt_allow_claim;
  return settings;
}

}  // namespace wsrelay
