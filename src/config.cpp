// Config: the table of keys, and the three ways a value arrives (TOML file,
// WSRELAY_* variable, text from a flag). Every way funnels into the same
// per-key check, so a bad value reads the same whatever its origin, prefixed
// by where it came from ("wsrelay.toml:12: websocket.max_message_bytes: ...",
// "WSRELAY_THREADS: ...", "--set server.threads: ...").
#include "wsrelay/config.hpp"
#include "wsrelay/auth_callback.hpp"
#include "wsrelay/config_auth.hpp"
#include "wsrelay/config_publish_api.hpp"
#include "wsrelay/protocol.hpp"
#include "wsrelay/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cstdint>
#include <limits>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace wsrelay {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kIntMax = INT_MAX;
constexpr std::int64_t kMiB = 1024 * 1024;
constexpr std::string_view kRedisUrlPrefix = "redis_url: ";

using Member = std::variant<std::string Config::*, int Config::*, std::size_t Config::*,
                            std::vector<std::string> Config::*, bool Config::*>;

// A rule on a key's current value; returns "" when the value is fine. Rules
// return the reason rather than throw so each origin can prefix its own name.
using Check = std::string (*)(const Config&);
// A string key's value with its secret parts replaced, for to_toml().
using Redact = std::string (*)(std::string_view);

struct Field {
  std::string_view table;
  std::string_view key;   // as written in the file, under [table]
  std::string_view name;  // the Config member; its variable is WSRELAY_<NAME>
  Member member;
  std::int64_t min = 0;  // integer keys only
  std::int64_t max = 0;
  Check check = nullptr;    // string keys only
  bool reloadable = false;  // applied by a SIGHUP reload; otherwise kept until restart
  Redact redact = nullptr;  // set on keys that may hold a secret
};

constexpr bool kReloadable = true;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// ---- HOST:PORT ----------------------------------------------------------

// Returns the reason `text` is not a listen address, or "" after filling
// host/port. "localhost" becomes 127.0.0.1 so the server can bind it without
// a resolver; IPv6 loses its brackets.
std::string parse_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  const std::string expected =
      fmt::format("expected HOST:PORT (IPv4, localhost or [IPv6]), got \"{}\"", text);
  std::string_view h;
  std::string_view p;
  std::string parsed_host;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return expected;
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
    in6_addr addr6{};
    if (inet_pton(AF_INET6, std::string(h).c_str(), &addr6) != 1)
      return fmt::format("\"{}\" is not an IPv6 address", h);
    parsed_host = std::string(h);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return expected;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos)
      return fmt::format("IPv6 addresses need brackets, e.g. \"[::1]:{}\"", p);
    in_addr addr4{};
    if (h == "localhost") {
      parsed_host = "127.0.0.1";
    } else if (inet_pton(AF_INET, std::string(h).c_str(), &addr4) == 1) {
      parsed_host = std::string(h);
    } else {
      return fmt::format(
          "host must be an IPv4 address, localhost or [IPv6] (use 0.0.0.0 for all "
          "interfaces), got \"{}\"",
          h);
    }
  }
  unsigned value = 0;
  if (p.size() > 5 || !parse_decimal(p, value) || value > 65535)
    return fmt::format("port must be a number from 0 to 65535, got \"{}\"", p);
  host = std::move(parsed_host);
  port = static_cast<std::uint16_t>(value);
  return {};
}

// ---- per-key rules ------------------------------------------------------

std::string check_listen(const Config& c) {
  std::string host;
  std::uint16_t port = 0;
  return parse_listen(c.listen, host, port);
}

std::string check_admin_listen(const Config& c) {
  if (c.admin_listen.empty()) return {};
  std::string host;
  std::uint16_t port = 0;
  return parse_listen(c.admin_listen, host, port);
}

std::string check_websocket_url(const Config& c) {
  const std::string& u = c.websocket_url;
  if (u.empty() || u.front() != '/' || u.back() != '/')
    return fmt::format("must start and end with '/', got \"{}\"", u);
  for (char c : u)
    if (is_space(c) || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x20)
      return fmt::format("must not contain whitespace, '?' or '#', got \"{}\"", u);
  return {};
}

std::string check_subprotocols(const Config& c) {
  for (const std::string& p : c.subprotocols)
    if (!is_token(p)) return fmt::format("\"{}\" is not a valid subprotocol token", p);
  return {};
}

std::string check_session_cookie(const Config& c) {
  const std::string& n = c.session_cookie;
  if (!is_token(n)) return fmt::format("\"{}\" is not a valid cookie name", n);
  return {};
}

// The client is served on this exact path, so it must be one: a clash with
// the WebSocket URLs would make either unreachable.
std::string check_client_path(const Config& c) {
  const std::string& p = c.client_path;
  if (p.empty()) return {};
  if (p.front() != '/' || p.back() == '/')
    return fmt::format("must start with '/' and name a file (or be empty), got \"{}\"", p);
  for (char ch : p)
    if (is_space(ch) || ch == '?' || ch == '#' || static_cast<unsigned char>(ch) < 0x20)
      return fmt::format("must not contain whitespace, '?' or '#', got \"{}\"", p);
  return {};
}

// parse_redis_url() speaks for itself ("redis_url: ..."); here the origin
// (file line, variable, flag) names the key instead, so drop its prefix.
std::string parse_redis(std::string_view url, RedisEndpoint& out) {
  try {
    out = parse_redis_url(url);
    return {};
  } catch (const ConfigError& e) {
    std::string_view message = e.what();
    if (message.rfind(kRedisUrlPrefix, 0) == 0) message.remove_prefix(kRedisUrlPrefix.size());
    return std::string(message);
  }
}

std::string check_redis_url(const Config& c) {
  if (c.redis_url.empty()) return {};
  RedisEndpoint endpoint;
  return parse_redis(c.redis_url, endpoint);
}

// A prefix is pasted into channel names; a glob character there would let a
// PSUBSCRIBE-minded reader see it as a pattern, and whitespace is a typo.
std::string check_prefix(const Config& c) {
  for (char ch : c.prefix)
    if (std::string_view("*?[]\\").find(ch) != std::string_view::npos || is_space(ch) ||
        static_cast<unsigned char>(ch) < 0x20)
      return fmt::format("must not contain '*', '?', '[', ']', '\\\\' or whitespace, got \"{}\"",
                         c.prefix);
  return {};
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

// A value that is a secret as a whole (each of publish_api.keys).
std::string redact_whole(std::string_view) {
  return std::string(redacted_secret);
}

std::string check_auth_callback_url(const Config& c) {
  std::string reason;
  if (!c.auth_callback_url.empty()) parse_callback_url(c.auth_callback_url, &reason);
  return reason;
}

constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

std::string check_log_level(const Config& c) {
  if (std::find(kLogLevels.begin(), kLogLevels.end(), c.log_level) != kLogLevels.end()) return {};
  return fmt::format("must be one of trace, debug, info, warn, error, critical, off; got \"{}\"",
                     c.log_level);
}

std::string check_log_format(const Config& c) {
  if (c.log_format == "text" || c.log_format == "json") return {};
  return fmt::format("must be text or json; got \"{}\"", c.log_format);
}

std::string check_slow_consumer_policies(const Config& c) {
  std::string error;
  for (const std::string& rule : c.slow_consumer_policies)
    if (!parse_slow_consumer_rule(rule, error)) return error;
  return {};
}

template <std::string Config::*member>
std::string check_header(const Config& c) {
  return check_header_name(c.*member);
}

template <std::vector<std::string> Config::*member>
std::string check_cidr_list(const Config& c) {
  return check_cidr_blocks(c.*member);
}

// Order here is the order of to_toml() and of the sample file.
const std::array<Field, 75> kFields{{
    {"server", "listen", "listen", &Config::listen, 0, 0, check_listen},
    {"server", "websocket_url", "websocket_url", &Config::websocket_url, 0, 0, check_websocket_url},
    {"server", "threads", "threads", &Config::threads, 0, 256},
    {"server", "max_connections", "max_connections", &Config::max_connections, 1, 100'000'000,
     nullptr, kReloadable},
    {"server", "max_handshakes", "max_handshakes", &Config::max_handshakes, 1, 1'000'000, nullptr,
     kReloadable},
    {"server", "max_connections_per_address", "max_connections_per_address",
     &Config::max_connections_per_address, 0, 100'000'000, nullptr, kReloadable},
    {"server", "connect_rate_per_address", "connect_rate_per_address",
     &Config::connect_rate_per_address, 0, 1'000'000, nullptr, kReloadable},
    {"server", "connect_burst_per_address", "connect_burst_per_address",
     &Config::connect_burst_per_address, 1, 1'000'000, nullptr, kReloadable},
    {"server", "address_limits_exempt", "address_limits_exempt", &Config::address_limits_exempt, 0,
     0, check_cidr_list<&Config::address_limits_exempt>, kReloadable},
    {"server", "handshake_timeout_seconds", "handshake_timeout_seconds",
     &Config::handshake_timeout_seconds, 1, 3600, nullptr, kReloadable},
    {"server", "max_header_bytes", "max_header_bytes", &Config::max_header_bytes, 1024, kMiB,
     nullptr, kReloadable},
    {"server", "subprotocols", "subprotocols", &Config::subprotocols, 0, 0, check_subprotocols,
     kReloadable},
    {"server", "session_cookie", "session_cookie", &Config::session_cookie, 0, 0,
     check_session_cookie},
    {"server", "ready_file", "ready_file", &Config::ready_file},
    {"server", "admin_listen", "admin_listen", &Config::admin_listen, 0, 0, check_admin_listen},
    {"server", "client_path", "client_path", &Config::client_path, 0, 0, check_client_path},
    {"server", "demo", "demo", &Config::demo},
    {"redis", "url", "redis_url", &Config::redis_url, 0, 0, check_redis_url, false,
     redact_redis_url},
    {"redis", "prefix", "prefix", &Config::prefix, 0, 0, check_prefix},
    {"redis", "expire_seconds", "expire_seconds", &Config::expire_seconds, 0, kIntMax, nullptr,
     kReloadable},
    {"redis", "connect_timeout_ms", "redis_connect_timeout_ms", &Config::redis_connect_timeout_ms,
     1, 600'000},
    {"redis", "reconnect_min_ms", "redis_reconnect_min_ms", &Config::redis_reconnect_min_ms, 1,
     3'600'000},
    {"redis", "reconnect_max_ms", "redis_reconnect_max_ms", &Config::redis_reconnect_max_ms, 1,
     3'600'000},
    {"redis", "pending_max_messages", "redis_pending_max_messages",
     &Config::redis_pending_max_messages, 0, kInt64Max},
    {"redis", "pending_max_bytes", "redis_pending_max_bytes", &Config::redis_pending_max_bytes, 0,
     kInt64Max},
    {"redis", "subscriber_backlog_bytes", "redis_subscriber_backlog_bytes",
     &Config::redis_subscriber_backlog_bytes, 1, kInt64Max},
    {"redis", "max_message_bytes", "redis_max_message_bytes", &Config::redis_max_message_bytes, 1,
     512 * kMiB},
    {"websocket", "heartbeat", "heartbeat", &Config::heartbeat, 0, 0, nullptr, kReloadable},
    {"websocket", "heartbeat_interval_seconds", "heartbeat_interval_seconds",
     &Config::heartbeat_interval_seconds, 1, 86400, nullptr, kReloadable},
    {"websocket", "ping_interval_seconds", "ping_interval_seconds", &Config::ping_interval_seconds,
     1, 86400, nullptr, kReloadable},
    {"websocket", "idle_timeout_seconds", "idle_timeout_seconds", &Config::idle_timeout_seconds, 1,
     86400, nullptr, kReloadable},
    {"websocket", "close_timeout_seconds", "close_timeout_seconds", &Config::close_timeout_seconds,
     1, 3600, nullptr, kReloadable},
    {"websocket", "max_message_bytes", "max_message_bytes", &Config::max_message_bytes, 1,
     64 * kMiB, nullptr, kReloadable},
    {"websocket", "max_queue_bytes", "max_queue_bytes", &Config::max_queue_bytes, 1, kInt64Max,
     nullptr, kReloadable},
    {"websocket", "soft_queue_bytes", "soft_queue_bytes", &Config::soft_queue_bytes, 0, kInt64Max,
     nullptr, kReloadable},
    {"websocket", "soft_queue_seconds", "soft_queue_seconds", &Config::soft_queue_seconds, 1, 3600,
     nullptr, kReloadable},
    {"websocket", "slow_consumer_policies", "slow_consumer_policies",
     &Config::slow_consumer_policies, 0, 0, check_slow_consumer_policies, kReloadable},
    {"websocket", "send_buffer_bytes", "send_buffer_bytes", &Config::send_buffer_bytes, 0,
     64 * kMiB, nullptr, kReloadable},
    {"websocket", "publish_rate", "publish_rate", &Config::publish_rate, 0, 1'000'000, nullptr,
     kReloadable},
    {"websocket", "publish_burst", "publish_burst", &Config::publish_burst, 1, 1'000'000, nullptr,
     kReloadable},
    {"auth", "backends", "auth_backends", &Config::auth_backends, 0, 0, check_auth_backends},
    {"auth", "allowed_origins", "allowed_origins", &Config::allowed_origins, 0, 0,
     check_allowed_origins},
    {"auth", "trusted_proxies", "trusted_proxies", &Config::trusted_proxies, 0, 0,
     check_trusted_proxies},
    {"auth", "rules", "auth_rules", &Config::auth_rules, 0, 0, check_auth_rules},
    {"auth", "jwt_keys", "jwt_keys", &Config::jwt_keys, 0, 0, check_jwt_keys},
    {"auth", "jwt_cookie", "jwt_cookie", &Config::jwt_cookie, 0, 0, check_jwt_cookie},
    {"auth", "jwt_query_param", "jwt_query_param", &Config::jwt_query_param, 0, 0,
     check_jwt_query_param},
    {"auth", "jwt_audience", "jwt_audience", &Config::jwt_audience},
    {"auth", "jwt_issuer", "jwt_issuer", &Config::jwt_issuer},
    {"auth", "jwt_leeway_seconds", "jwt_leeway_seconds", &Config::jwt_leeway_seconds, 0, 3600},
    {"auth", "jwt_user_claim", "jwt_user_claim", &Config::jwt_user_claim},
    {"auth", "jwt_groups_claim", "jwt_groups_claim", &Config::jwt_groups_claim},
    {"auth", "jwt_session_claim", "jwt_session_claim", &Config::jwt_session_claim},
    {"auth", "jwt_allow_claim", "jwt_allow_claim", &Config::jwt_allow_claim},
    {"auth", "proxy_user_header", "proxy_user_header", &Config::proxy_user_header, 0, 0,
     check_header<&Config::proxy_user_header>},
    {"auth", "proxy_groups_header", "proxy_groups_header", &Config::proxy_groups_header, 0, 0,
     check_header<&Config::proxy_groups_header>},
    {"auth", "proxy_session_header", "proxy_session_header", &Config::proxy_session_header, 0, 0,
     check_header<&Config::proxy_session_header>},
    {"auth", "proxy_allow_header", "proxy_allow_header", &Config::proxy_allow_header, 0, 0,
     check_header<&Config::proxy_allow_header>},
    {"auth", "callback_url", "auth_callback_url", &Config::auth_callback_url, 0, 0,
     check_auth_callback_url, false, redact_query_values},
    {"auth", "callback_timeout_ms", "auth_callback_timeout_ms", &Config::auth_callback_timeout_ms,
     1, 600'000},
    {"auth", "callback_max_connections", "auth_callback_max_connections",
     &Config::auth_callback_max_connections, 1, 10'000},
    {"auth", "callback_max_pending", "auth_callback_max_pending",
     &Config::auth_callback_max_pending, 0, 1'000'000},
    {"auth", "callback_cache_seconds", "auth_callback_cache_seconds",
     &Config::auth_callback_cache_seconds, 0, 3600},
    {"auth", "callback_cache_max_entries", "auth_callback_cache_max_entries",
     &Config::auth_callback_cache_max_entries, 1, 10'000'000},
    {"auth", "callback_forward_headers", "auth_callback_forward_headers",
     &Config::auth_callback_forward_headers, 0, 0, check_callback_forward_headers},
    {"log", "level", "log_level", &Config::log_level, 0, 0, check_log_level, kReloadable},
    {"log", "format", "log_format", &Config::log_format, 0, 0, check_log_format},
    {"log", "access", "log_access", &Config::log_access, 0, 0, nullptr, kReloadable},
    {"shutdown", "timeout_seconds", "shutdown_timeout_seconds", &Config::shutdown_timeout_seconds,
     1, 3600},
    {"shutdown", "drain_seconds", "shutdown_drain_seconds", &Config::shutdown_drain_seconds, 0,
     3599},
    {"publish_api", "enabled", "publish_api_enabled", &Config::publish_api_enabled, 0, 0, nullptr,
     kReloadable},
    {"publish_api", "keys", "publish_api_keys", &Config::publish_api_keys, 0, 0,
     check_publish_api_keys, kReloadable, redact_whole},
    {"publish_api", "keys_file", "publish_api_keys_file", &Config::publish_api_keys_file, 0, 0,
     nullptr, kReloadable},
    {"publish_api", "max_body_bytes", "publish_api_max_body_bytes",
     &Config::publish_api_max_body_bytes, 1, 64 * kMiB, nullptr, kReloadable},
    {"publish_api", "admin_only", "publish_api_admin_only", &Config::publish_api_admin_only, 0, 0,
     nullptr, kReloadable},
}};

constexpr std::array<std::string_view, 7> kTables = {"server", "redis",    "websocket",  "auth",
                                                     "log",    "shutdown", "publish_api"};

std::string dotted(const Field& f) {
  return fmt::format("{}.{}", f.table, f.key);
}

std::string env_name(const Field& f) {
  std::string name = "WSRELAY_";
  for (char c : f.name) name += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return name;
}

const Field* find_field(std::string_view table, std::string_view key) {
  for (const Field& f : kFields)
    if (f.table == table && f.key == key) return &f;
  return nullptr;
}

const Field* find_dotted(std::string_view dotted_key) {
  const auto dot = dotted_key.find('.');
  if (dot == std::string_view::npos) return nullptr;
  return find_field(dotted_key.substr(0, dot), dotted_key.substr(dot + 1));
}

// Points a misplaced or misspelt key at its real name ("redis_url" → "url").
std::string did_you_mean(std::string_view key) {
  for (const Field& f : kFields)
    if (f.key == key || f.name == key) return fmt::format(" (did you mean {}?)", dotted(f));
  return {};
}

bool is_integer_field(const Field& f) {
  return std::holds_alternative<int Config::*>(f.member) ||
         std::holds_alternative<std::size_t Config::*>(f.member);
}

std::string check_integer(const Field& f, std::int64_t v) {
  if (v < 0 && std::holds_alternative<std::size_t Config::*>(f.member))
    return fmt::format("must not be negative, got {}", v);
  if (v >= f.min && v <= f.max) return {};
  if (f.max == kInt64Max || f.max == kIntMax)
    return fmt::format("must be at least {}, got {}", f.min, v);
  return fmt::format("must be between {} and {}, got {}", f.min, f.max, v);
}

// Stores an integer after its range check, so an out-of-range value never
// reaches a narrower member.
void store_integer(Config& c, const Field& f, std::int64_t v, const std::string& origin) {
  if (auto error = check_integer(f, v); !error.empty())
    throw ConfigError(fmt::format("{}: {}", origin, error));
  if (auto p = std::get_if<int Config::*>(&f.member)) c.*(*p) = static_cast<int>(v);
  if (auto p = std::get_if<std::size_t Config::*>(&f.member)) c.*(*p) = static_cast<std::size_t>(v);
}

void run_check(const Config& c, const Field& f, const std::string& origin) {
  if (!f.check) return;
  if (auto error = f.check(c); !error.empty())
    throw ConfigError(fmt::format("{}: {}", origin, error));
}

void assign_text(Config& c, const Field& f, std::string_view text, const std::string& origin) {
  if (is_integer_field(f)) {
    const std::string_view t = trim(text, white_space);
    std::int64_t v = 0;
    if (!parse_decimal(t, v)) {
      // from_chars fails the same way on "abc" and on 99999999999999999999.
      const bool digits = !t.empty() && std::all_of(t.begin() + (t.front() == '-'), t.end(),
                                                    [](char ch) { return ch >= '0' && ch <= '9'; });
      throw ConfigError(fmt::format("{}: {}, got \"{}\"", origin,
                                    digits ? "integer out of range" : "expected an integer", t));
    }
    store_integer(c, f, v, origin);
  } else if (auto p = std::get_if<bool Config::*>(&f.member)) {
    const std::string_view t = trim(text, white_space);
    if (t == "true" || t == "1") {
      c.*(*p) = true;
    } else if (t == "false" || t == "0") {
      c.*(*p) = false;
    } else {
      throw ConfigError(fmt::format("{}: expected true or false, got \"{}\"", origin, t));
    }
  } else if (auto p = std::get_if<std::string Config::*>(&f.member)) {
    c.*(*p) = std::string(text);
  } else if (auto p = std::get_if<std::vector<std::string> Config::*>(&f.member)) {
    std::vector<std::string> items;
    while (!text.empty()) {
      const auto comma = text.find(',');
      const std::string_view item = trim(text.substr(0, comma), white_space);
      if (!item.empty()) items.emplace_back(item);
      text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    }
    c.*(*p) = std::move(items);
  }
  run_check(c, f, origin);
}

std::string_view node_kind(const toml::node& n) {
  if (n.is_string()) return "a string";
  if (n.is_integer()) return "an integer";
  if (n.is_floating_point()) return "a float";
  if (n.is_boolean()) return "a boolean";
  if (n.is_array()) return "an array";
  if (n.is_table()) return "a table";
  return "a date/time";
}

void assign_toml(Config& c, const Field& f, const toml::node& n, const std::string& origin) {
  if (is_integer_field(f)) {
    const auto* v = n.as_integer();
    if (!v) throw ConfigError(fmt::format("{}: expected an integer, got {}", origin, node_kind(n)));
    store_integer(c, f, v->get(), origin);
  } else if (auto p = std::get_if<bool Config::*>(&f.member)) {
    const auto* v = n.as_boolean();
    if (!v)
      throw ConfigError(fmt::format("{}: expected true or false, got {}", origin, node_kind(n)));
    c.*(*p) = v->get();
  } else if (auto p = std::get_if<std::string Config::*>(&f.member)) {
    const auto* v = n.as_string();
    if (!v) throw ConfigError(fmt::format("{}: expected a string, got {}", origin, node_kind(n)));
    c.*(*p) = v->get();
  } else if (auto p = std::get_if<std::vector<std::string> Config::*>(&f.member)) {
    const auto* array = n.as_array();
    if (!array)
      throw ConfigError(
          fmt::format("{}: expected an array of strings, got {}", origin, node_kind(n)));
    std::vector<std::string> items;
    for (const toml::node& item : *array) {
      const auto* s = item.as_string();
      if (!s)
        throw ConfigError(fmt::format("{}: expected an array of strings, got an element that is {}",
                                      origin, node_kind(item)));
      items.push_back(s->get());
    }
    c.*(*p) = std::move(items);
  }
  run_check(c, f, origin);
}

// TOML basic strings: escape what the grammar forbids raw; UTF-8 passes as is.
void append_toml_string(std::string& out, std::string_view s) {
  static constexpr std::string_view kRaw = "\"\\\b\t\n\f\r";
  static constexpr std::string_view kEscaped = "\"\\btnfr";
  out += '"';
  for (char ch : s) {
    if (const auto i = kRaw.find(ch); i != std::string_view::npos) {
      out += '\\';
      out += kEscaped[i];
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      out += fmt::format("\\u{:04X}", static_cast<unsigned char>(ch));
    } else {
      out += ch;
    }
  }
  out += '"';
}

}  // namespace

Config parse_config_toml(std::string_view text, std::string_view source_name, Config base) {
  const std::string source = source_name.empty() ? "config" : std::string(source_name);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: TOML syntax error: {}", source, e.source().begin.line,
                                  e.description()));
  }
  for (auto&& [table_key, table_node] : root) {
    const auto line = table_key.source().begin.line;
    const std::string_view table = table_key.str();
    if (std::find(kTables.begin(), kTables.end(), table) == kTables.end()) {
      throw ConfigError(fmt::format(
          "{}:{}: {}: unknown table{} (tables are server, redis, websocket, auth, log, shutdown)",
          source, line, table, did_you_mean(table)));
    }
    const toml::table* entries = table_node.as_table();
    if (!entries)
      throw ConfigError(fmt::format("{}:{}: {}: expected a table, got {}", source, line, table,
                                    node_kind(table_node)));
    for (auto&& [key, node] : *entries) {
      const std::string origin =
          fmt::format("{}:{}: {}.{}", source, key.source().begin.line, table, key.str());
      const Field* field = find_field(table, key.str());
      if (!field) throw ConfigError(origin + ": unknown key" + did_you_mean(key.str()));
      assign_toml(base, *field, node, origin);
    }
  }
  return base;
}

void set_config_value(Config& config, std::string_view key, std::string_view value,
                      std::string_view origin) {
  const std::string name = origin.empty() ? std::string(key) : std::string(origin);
  const Field* field = find_dotted(key);
  if (!field) {
    const auto dot = key.find('.');
    throw ConfigError(
        fmt::format("{}: unknown key \"{}\"{} (keys are table.key, e.g. server.listen)", name, key,
                    did_you_mean(dot == std::string_view::npos ? key : key.substr(dot + 1))));
  }
  Config updated = config;
  assign_text(updated, *field, value, name);
  config = std::move(updated);
}

std::vector<std::string> apply_environment(Config& config,
                                           const std::map<std::string, std::string>& env) {
  Config updated = config;
  std::vector<std::string> unknown;
  for (const auto& [name, value] : env) {
    if (name.rfind("WSRELAY_", 0) != 0 || name == "WSRELAY_CONFIG") continue;
    const auto it = std::find_if(kFields.begin(), kFields.end(),
                                 [&name = name](const Field& f) { return env_name(f) == name; });
    if (it == kFields.end()) {
      unknown.push_back(name);  // std::map: already sorted
      continue;
    }
    assign_text(updated, *it, value, name);
  }
  config = std::move(updated);
  return unknown;
}

std::vector<std::string> config_variable_names() {
  std::vector<std::string> names;
  for (const Field& f : kFields) names.push_back(env_name(f));
  return names;
}

void validate(Config& config) {
  for (const Field& f : kFields) {
    const std::string key = dotted(f);
    if (auto p = std::get_if<int Config::*>(&f.member)) {
      if (auto error = check_integer(f, config.*(*p)); !error.empty())
        throw ConfigError(key + ": " + error);
    } else if (auto p = std::get_if<std::size_t Config::*>(&f.member)) {
      const std::size_t v = config.*(*p);
      if (v > static_cast<std::size_t>(kInt64Max))
        throw ConfigError(fmt::format("{}: must be at most {}, got {}", key, f.max, v));
      if (auto error = check_integer(f, static_cast<std::int64_t>(v)); !error.empty())
        throw ConfigError(key + ": " + error);
    }
    run_check(config, f, key);
  }

  // A queue smaller than one message would evict a client on its first big
  // message, however fast it reads.
  if (config.max_queue_bytes < config.max_message_bytes)
    throw ConfigError(fmt::format(
        "websocket.max_queue_bytes: must be at least websocket.max_message_bytes ({}), got {}",
        config.max_message_bytes, config.max_queue_bytes));
  // The heartbeat is sent as a text frame: a browser closes on invalid UTF-8.
  if (!valid_utf8(config.heartbeat))
    throw ConfigError("websocket.heartbeat: must be valid UTF-8 (it is sent as a text frame)");
  if (config.soft_queue_bytes > config.max_queue_bytes)
    throw ConfigError(fmt::format(
        "websocket.soft_queue_bytes: must not exceed websocket.max_queue_bytes ({}), got {}",
        config.max_queue_bytes, config.soft_queue_bytes));
  if (config.redis_reconnect_min_ms > config.redis_reconnect_max_ms)
    throw ConfigError(
        fmt::format("redis.reconnect_min_ms: must not exceed redis.reconnect_max_ms ({}), got {}",
                    config.redis_reconnect_max_ms, config.redis_reconnect_min_ms));
  // The drain must end before the hard deadline, or every drain is cut short.
  if (config.shutdown_drain_seconds >= config.shutdown_timeout_seconds)
    throw ConfigError(fmt::format(
        "shutdown.drain_seconds: must be less than shutdown.timeout_seconds ({}), got {}",
        config.shutdown_timeout_seconds, config.shutdown_drain_seconds));

  // The demo page loads the served client.
  if (config.demo && config.client_path.empty())
    throw ConfigError(
        "server.demo: needs server.client_path (the demo page loads the client from it)");
  if (!config.client_path.empty() && config.client_path.rfind(config.websocket_url, 0) == 0)
    throw ConfigError(fmt::format(
        "server.client_path: must not be under server.websocket_url (\"{}\"), got \"{}\"",
        config.websocket_url, config.client_path));

  if (auto error = parse_listen(config.listen, config.listen_host, config.listen_port);
      !error.empty())
    throw ConfigError("server.listen: " + error);
  config.admin_host.clear();
  config.admin_port = 0;
  if (!config.admin_listen.empty()) {
    if (auto error = parse_listen(config.admin_listen, config.admin_host, config.admin_port);
        !error.empty())
      throw ConfigError("server.admin_listen: " + error);
    // Port 0 on both picks two ports; the same port twice cannot be bound.
    if (config.admin_port != 0 && config.admin_port == config.listen_port &&
        (config.admin_host == config.listen_host || config.admin_host == "0.0.0.0" ||
         config.listen_host == "0.0.0.0"))
      throw ConfigError(fmt::format(
          "server.admin_listen: must not be server.listen's address (\"{}\"), got \"{}\"",
          config.listen, config.admin_listen));
  }
  config.redis.reset();
  if (!config.redis_url.empty()) {
    RedisEndpoint endpoint;
    if (auto error = parse_redis(config.redis_url, endpoint); !error.empty())
      throw ConfigError("redis.url: " + error);
    config.redis = std::move(endpoint);
  }
  config.address_limits.max_open = config.max_connections_per_address;
  config.address_limits.rate = config.connect_rate_per_address;
  config.address_limits.burst = config.connect_burst_per_address;
  config.address_limits.exempt.clear();
  for (const std::string& block : config.address_limits_exempt)
    config.address_limits.exempt.push_back(*parse_cidr(block));
  config.slow_consumer_rules.clear();
  std::string error;
  for (const std::string& text : config.slow_consumer_policies) {
    auto rule = parse_slow_consumer_rule(text, error);
    if (!rule) throw ConfigError("websocket.slow_consumer_policies: " + error);
    config.slow_consumer_rules.push_back(std::move(*rule));
  }
  validate_auth(config);
  validate_publish_api(config);
}

Reload plan_reload(const Config& running, const Config& loaded) {
  Reload reload{running, {}, {}};
  auto take = [&](const Field& f, auto member) {
    if (running.*member == loaded.*member) return;
    if (f.reloadable) {
      reload.config.*member = loaded.*member;
      reload.changed.push_back(dotted(f));
    } else {
      reload.kept.push_back(dotted(f));
    }
  };
  for (const Field& f : kFields) std::visit([&](auto member) { take(f, member); }, f.member);
  validate(reload.config);
  return reload;
}

std::string to_toml(const Config& config, Secrets secrets) {
  std::string out = "# wsrelay configuration (defaults < file < WSRELAY_* < flags)\n";
  std::string_view table;
  for (const Field& f : kFields) {
    if (f.table != table) {
      table = f.table;
      out += fmt::format("\n[{}]\n", table);
    }
    out += fmt::format("{} = ", f.key);
    if (auto p = std::get_if<int Config::*>(&f.member)) {
      out += std::to_string(config.*(*p));
    } else if (auto p = std::get_if<std::size_t Config::*>(&f.member)) {
      out += std::to_string(config.*(*p));
    } else if (auto p = std::get_if<bool Config::*>(&f.member)) {
      out += config.*(*p) ? "true" : "false";
    } else if (auto p = std::get_if<std::string Config::*>(&f.member)) {
      const std::string& value = config.*(*p);
      const bool redact = f.redact && secrets == Secrets::redacted;
      append_toml_string(out, redact ? f.redact(value) : value);
    } else if (auto p = std::get_if<std::vector<std::string> Config::*>(&f.member)) {
      out += '[';
      const auto& items = config.*(*p);
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        const bool redact = f.redact && secrets == Secrets::redacted;
        append_toml_string(out, redact ? f.redact(items[i]) : items[i]);
      }
      out += ']';
    }
    out += '\n';
  }
  return out;
}

}  // namespace wsrelay
