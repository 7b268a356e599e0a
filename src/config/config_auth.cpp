// The [auth] settings as config.cpp loads them: each value's form, the
// rules between keys, the parsed forms. What needs the authorization layer
// itself (the backend registry, the JWT key files) is checked there, when it
// is built (auth.hpp: load_auth).
#include <wsrelay/config/config_auth.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

#include <fmt/format.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/origin.hpp>
#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

bool uses_backend(const Config& c, std::string_view name) {
  return std::find(c.auth_backends.begin(), c.auth_backends.end(), name) != c.auth_backends.end();
}

bool is_space_or_control(char c) {
  return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
}

}  // namespace

// Whether each name is a backend is the registry's to say (auth.hpp:
// load_auth); here, the list's shape.
std::string check_auth_backends(const Config& c) {
  if (c.auth_backends.empty()) return "needs at least one backend, e.g. [\"anonymous\"]";
  for (std::size_t i = 0; i < c.auth_backends.size(); ++i) {
    const std::string& name = c.auth_backends[i];
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
    const bool own = iequals(std::string_view(name).substr(0, 10), "X-WsRelay-");
    if (own || std::any_of(std::begin(kRefused), std::end(kRefused),
                           [&](std::string_view r) { return iequals(name, r); }))
      return fmt::format(
          "\"{}\" cannot be forwarded: the callback sets it itself, or it is "
          "about the connection, not the handshake",
          name);
    for (std::size_t j = 0; j < i; ++j)
      if (iequals(names[j], name)) return fmt::format("\"{}\" is listed twice", name);
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

std::optional<JwtKeySpec> parse_jwt_key_spec(std::string_view text, std::string& error) {
  std::istringstream words{std::string(text)};
  JwtKeySpec spec;
  std::string extra;
  words >> spec.alg >> spec.path >> spec.kid >> extra;
  if (spec.path.empty() || !extra.empty()) {
    error = fmt::format("\"{}\": expected \"ALG PATH [KID]\", e.g. \"RS256 /etc/wsrelay/jwt.pem\"",
                        text);
    return std::nullopt;
  }
  if (spec.alg != "HS256" && spec.alg != "RS256" && spec.alg != "ES256") {
    error = fmt::format("\"{}\": algorithm must be HS256, RS256 or ES256", text);
    return std::nullopt;
  }
  return spec;
}

std::optional<CallbackUrl> parse_callback_url(std::string_view url, std::string* reason) {
  auto fail = [&](std::string why) -> std::optional<CallbackUrl> {
    if (reason) *reason = std::move(why);
    return std::nullopt;
  };
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), url.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); }))
    return fail(fmt::format("must be an http:// URL (http://host[:port]/path), got \"{}\"", url));
  if (std::any_of(url.begin(), url.end(), is_space_or_control))
    return fail("must not contain whitespace or control characters");
  if (url.find('#') != std::string_view::npos) return fail("must not contain a fragment ('#')");
  std::string_view rest = url.substr(scheme.size());
  const auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  CallbackUrl out;
  if (authority_end != std::string_view::npos) {
    out.target = std::string(rest.substr(authority_end));
    if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos)
    return fail("must not carry credentials (user@host)");
  std::string_view port_text;
  bool port_given = false;  // a ':' after the host, even with nothing after it
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated [IPv6] host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return fail("expected ':' after the [IPv6] host");
    port_given = !after.empty();
    if (port_given) port_text = after.substr(1);
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    port_given = colon != std::string_view::npos;
    if (port_given) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return fail(fmt::format("has no host, got \"{}\"", url));
  if (port_given) {
    unsigned port = 0;
    if (port_text.size() > 5 || !parse_decimal(port_text, port) || port == 0 || port > 65535)
      return fail(fmt::format("port must be a number from 1 to 65535, got \"{}\"", port_text));
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

// A site may take a shared key in the callback URL's query: every value
// there is treated as a secret.
std::string redact_query_values(std::string_view url) {
  std::string out(url);
  for (auto q = out.find('?'); q != std::string::npos; q = out.find('&', q + 1)) {
    const auto end = std::min(out.find('&', q + 1), out.size());
    const auto eq = out.find('=', q + 1);
    if (eq < end && eq + 1 < end) out.replace(eq + 1, end - eq - 1, redacted_secret);
  }
  return out;
}

std::string check_auth_callback_url(const Config& c) {
  std::string reason;
  if (!c.auth_callback_url.empty()) parse_callback_url(c.auth_callback_url, &reason);
  return reason;
}

}  // namespace wsrelay
