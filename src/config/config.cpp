// Config: the table of keys, and the three ways a value arrives (TOML file,
// WSRELAY_* variable, text from a flag). Every way funnels into the same
// per-key check, so a bad value reads the same whatever its origin, prefixed
// by where it came from ("wsrelay.toml:12: websocket.max_message_bytes: ...",
// "WSRELAY_THREADS: ...", "--set server.threads: ...").
#include <wsrelay/config/config.hpp>
#include <wsrelay/config/config_auth.hpp>
#include <wsrelay/config/config_command_channel.hpp>
#include <wsrelay/config/config_gateway.hpp>
#include <wsrelay/config/config_publish_api.hpp>
#include <wsrelay/config/config_redis.hpp>
#include <wsrelay/config/config_routes.hpp>
#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/text.hpp>

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

template <auto member>
std::string check_header(const Config& c) {
  return check_header_name(c.*member);
}

template <auto member>
std::string check_cidr_list(const Config& c) {
  return check_cidr_blocks(c.*member);
}

// Order here is the order of to_toml() and of the sample file.
const std::array<Field, 95> kFields{{
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
    {"redis", "tls_ca_file", "redis_tls_ca_file", &Config::redis_tls_ca_file},
    {"redis", "tls_cert_file", "redis_tls_cert_file", &Config::redis_tls_cert_file},
    {"redis", "tls_key_file", "redis_tls_key_file", &Config::redis_tls_key_file},
    {"redis", "tls_server_name", "redis_tls_server_name", &Config::redis_tls_server_name},
    {"redis", "tls_verify", "redis_tls_verify", &Config::redis_tls_verify},
    {"redis", "sentinel_password", "redis_sentinel_password", &Config::redis_sentinel_password, 0,
     0, nullptr, false, redact_if_set},
    {"redis", "sharded", "redis_sharded", &Config::redis_sharded},
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
    {"command_channel", "enabled", "command_channel_enabled", &Config::command_channel_enabled},
    {"command_channel", "path", "command_channel_path", &Config::command_channel_path, 0, 0,
     check_command_path},
    {"command_channel", "allowed", "command_channel_allowed", &Config::command_channel_allowed, 0,
     0, check_command_allowed, kReloadable},
    {"command_channel", "key_prefix", "command_channel_key_prefix",
     &Config::command_channel_key_prefix, 0, 0, check_command_key_prefix, kReloadable},
    {"command_channel", "key_mode", "command_channel_key_mode", &Config::command_channel_key_mode,
     0, 0, check_command_key_mode, kReloadable},
    {"command_channel", "max_args", "command_channel_max_args", &Config::command_channel_max_args,
     1, 100'000, nullptr, kReloadable},
    {"command_channel", "max_arg_bytes", "command_channel_max_arg_bytes",
     &Config::command_channel_max_arg_bytes, 1, 64 * kMiB, nullptr, kReloadable},
    {"command_channel", "max_command_bytes", "command_channel_max_command_bytes",
     &Config::command_channel_max_command_bytes, 1, 64 * kMiB, nullptr, kReloadable},
    {"command_channel", "max_in_flight", "command_channel_max_in_flight",
     &Config::command_channel_max_in_flight, 1, 10'000, nullptr, kReloadable},
    {"command_channel", "max_reply_bytes", "command_channel_max_reply_bytes",
     &Config::command_channel_max_reply_bytes, 1, 512 * kMiB, nullptr, kReloadable},
    {"command_channel", "max_refusals", "command_channel_max_refusals",
     &Config::command_channel_max_refusals, 0, 1'000'000, nullptr, kReloadable},
    {"history", "facilities", "history_facilities", &Config::history_facilities, 0, 0,
     check_history_facilities},
    {"history", "ttl_seconds", "history_ttl_seconds", &Config::history_ttl_seconds, 1,
     max_history_ttl_seconds},
}};

constexpr std::array<std::string_view, 9> kTables = {
    "server",   "redis",       "websocket",       "auth",   "log",
    "shutdown", "publish_api", "command_channel", "history"};

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
    if (table == "routes") {
      parse_routes(base, table_node, source);
      continue;
    }
    if (std::find(kTables.begin(), kTables.end(), table) == kTables.end()) {
      throw ConfigError(
          fmt::format("{}:{}: {}: unknown table{} (tables are server, redis, websocket, auth, log, "
                      "shutdown, publish_api, command_channel, [[routes]])",
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

  validate_websocket(config);
  validate_redis(config);
  validate_server(config);
  validate_auth(config);
  validate_publish_api(config);
  validate_command_channel(config);
  validate_routes(config);
  validate_sharded(config);
  validate_history(config);
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
  if (running.routes != loaded.routes) reload.kept.push_back("routes");  // a restart applies them
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
  append_routes_toml(out, config);
  return out;
}

}  // namespace wsrelay
