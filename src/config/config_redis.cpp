// parse_redis_url(): the Redis endpoint forms wsrelay accepts,
//   redis://[user:password@]host[:port][/db]   (user may be empty; both percent-encoded)
//   rediss://...                               the same over TLS
//   unix:///path/to/redis.sock[?db=N][&password=...][&user=...]
//   redis+sentinel://[user:password@]host[:port],host[:port].../mastername[/db]
//   redis+cluster://[user:password@]host[:port],host[:port]...
//   rediss+sentinel://..., rediss+cluster://...  the same over TLS (every connection)
// Every message starts with "redis_url: " and never echoes the whole URL: it
// may hold a password, and these messages get logged.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/config/config_redis.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

constexpr std::string_view kRedisUrlPrefix = "redis_url: ";

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool decode_into(std::string_view in, std::string& out) {
  auto decoded = percent_decode(in);
  if (!decoded) return false;
  out = std::move(*decoded);
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string set_credentials(std::string_view user, std::string_view password, RedisEndpoint& out) {
  if (!decode_into(user, out.user)) return "bad percent-encoding in the user";
  if (!decode_into(password, out.password)) return "bad percent-encoding in the password";
  // Redis has no AUTH with a user alone; taking "user@" as the password (an
  // old redis-py habit) would hide a typo, so say so.
  if (!out.user.empty() && out.password.empty())
    return "a user needs a password: redis://user:password@host, or redis://:password@host "
           "for a password alone";
  return {};
}

std::string parse_db(std::string_view text, int& db) {
  if (!parse_decimal(text, db) || db < 0)
    return fmt::format("db must be a non-negative integer, got \"{}\"", text);
  return {};
}

// "user:password@" off the front of an authority, into `out`; `authority`
// keeps the rest.
std::string take_userinfo(std::string_view& authority, RedisEndpoint& out) {
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return {};
  const std::string_view userinfo = authority.substr(0, at);
  authority = authority.substr(at + 1);
  const auto colon = userinfo.find(':');
  const std::string_view user = userinfo.substr(0, colon);
  const std::string_view password =
      colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
  return set_credentials(user, password, out);
}

// "host[:port]" or "[v6]:port"; `port` is left as it is when none is written.
std::string parse_host_port(std::string_view hostport, std::string& host_out,
                            std::uint16_t& port_out) {
  std::string_view host = hostport;
  std::string_view port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) return "missing ']' after an IPv6 host";
    host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fmt::format("unexpected \"{}\" after the host", after);
      port = after.substr(1);
      has_port = true;
    }
    for (char c : host)
      if (!(is_alnum(c) || c == ':' || c == '.' || c == '%'))
        return fmt::format("bad IPv6 host \"{}\"", host);
  } else {
    const auto colon = hostport.find(':');
    if (colon != hostport.rfind(':')) return "IPv6 hosts need brackets, e.g. redis://[::1]:6379";
    if (colon != std::string_view::npos) {
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
      has_port = true;
    }
    for (char c : host)
      if (!(is_alnum(c) || c == '-' || c == '.' || c == '_'))
        return fmt::format("bad host \"{}\"", host);
  }
  if (host.empty()) return "missing host (e.g. redis://127.0.0.1:6379)";
  host_out = std::string(host);
  if (has_port) {
    unsigned value = 0;
    if (port.size() > 5 || !parse_decimal(port, value) || value == 0 || value > 65535)
      return fmt::format("port must be a number from 1 to 65535, got \"{}\"", port);
    port_out = static_cast<std::uint16_t>(value);
  }
  return {};
}

// The authority and the path of `rest` (what follows "scheme://"); a query
// or fragment is refused, as redis:// takes its db as a path.
std::string split_authority(std::string_view rest, std::string_view& authority,
                            std::string_view& path, std::string_view example) {
  const auto authority_end = rest.find_first_of("/?#");
  authority = rest.substr(0, authority_end);
  path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (!path.empty() && path.front() != '/')
    return fmt::format("query parameters are not supported in {} URLs (write the db as a path: {})",
                       example.substr(0, example.find("://") + 3), example);
  return {};
}

std::string parse_tcp_url(std::string_view rest, RedisEndpoint& out) {
  std::string_view authority;
  std::string_view path;
  if (auto error = split_authority(rest, authority, path, "redis://host:6379/2"); !error.empty())
    return error;
  if (auto error = take_userinfo(authority, out); !error.empty()) return error;
  if (auto error = parse_host_port(authority, out.host, out.port); !error.empty()) return error;
  if (path.size() > 1) return parse_db(path.substr(1), out.db);
  return {};
}

// redis+sentinel://[user:password@]host[:port],host[:port].../mastername[/db]
// Sentinels listen on 26379 unless told otherwise.
std::string parse_sentinel_url(std::string_view rest, RedisEndpoint& out) {
  constexpr std::uint16_t sentinel_port = 26379;
  std::string_view authority;
  std::string_view path;
  if (auto error = split_authority(rest, authority, path,
                                   "redis+sentinel://host:26379,host:26379/mymaster/2");
      !error.empty())
    return error;
  if (path.find_first_of("?#") != std::string_view::npos)
    return "query parameters are not supported in redis+sentinel:// URLs (write the db as a "
           "path after the name: redis+sentinel://host:26379,host:26379/mymaster/2)";
  if (auto error = take_userinfo(authority, out); !error.empty()) return error;
  while (true) {
    const auto comma = authority.find(',');
    HostPort sentinel{{}, sentinel_port};
    if (auto error = parse_host_port(authority.substr(0, comma), sentinel.host, sentinel.port);
        !error.empty())
      return "sentinel " + std::to_string(out.sentinels.size() + 1) + ": " + error;
    if (std::find(out.sentinels.begin(), out.sentinels.end(), sentinel) == out.sentinels.end())
      out.sentinels.push_back(std::move(sentinel));
    if (comma == std::string_view::npos) break;
    authority.remove_prefix(comma + 1);
  }
  if (path.size() > 1) path.remove_prefix(1);
  const auto slash = path.find('/');
  const std::string_view name = path.substr(0, slash);
  if (name.empty())
    return "missing the master's name (redis+sentinel://host:26379,host:26379/mymaster)";
  if (!decode_into(name, out.master_name)) return "bad percent-encoding in the master's name";
  for (char c : out.master_name)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return "the master's name must not contain spaces or control characters";
  if (slash != std::string_view::npos && slash + 1 < path.size())
    return parse_db(path.substr(slash + 1), out.db);
  return {};
}

// redis+cluster://[user:password@]host[:port],host[:port]...
// A cluster has one database, 0: a path other than "/" or "/0" is refused
// rather than ignored.
std::string parse_cluster_url(std::string_view rest, RedisEndpoint& out) {
  std::string_view authority;
  std::string_view path;
  if (auto error = split_authority(rest, authority, path, "redis+cluster://host:6379,host:6379");
      !error.empty())
    return error;
  if (path.size() > 1 && path != "/0")
    return "a Redis Cluster has only database 0 (redis+cluster://host:6379,host:6379)";
  if (auto error = take_userinfo(authority, out); !error.empty()) return error;
  while (true) {
    const auto comma = authority.find(',');
    HostPort seed{{}, 6379};
    if (auto error = parse_host_port(authority.substr(0, comma), seed.host, seed.port);
        !error.empty())
      return "node " + std::to_string(out.cluster_seeds.size() + 1) + ": " + error;
    if (std::find(out.cluster_seeds.begin(), out.cluster_seeds.end(), seed) ==
        out.cluster_seeds.end())
      out.cluster_seeds.push_back(std::move(seed));
    if (comma == std::string_view::npos) break;
    authority.remove_prefix(comma + 1);
  }
  return {};
}

std::string parse_unix_url(std::string_view rest, RedisEndpoint& out) {
  out.is_unix = true;
  if (rest.empty() || rest.front() != '/')
    return "expected unix:///absolute/path.sock (three slashes)";
  const auto query_start = rest.find('?');
  const std::string_view path = rest.substr(0, query_start);
  if (path.size() < 2) return "missing the socket path";
  if (!decode_into(path, out.path)) return "bad percent-encoding in the path";
  if (query_start == std::string_view::npos) return {};

  std::string_view query = rest.substr(query_start + 1);
  std::string_view user;
  std::string_view password;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (param.empty()) continue;
    const auto eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    if (name == "db") {
      if (auto error = parse_db(value, out.db); !error.empty()) return error;
    } else if (name == "password") {
      password = value;
    } else if (name == "user") {
      user = value;
    } else {
      return fmt::format("unknown parameter \"{}\" (expected db, password or user)", name);
    }
  }
  return set_credentials(user, password, out);
}

std::string parse_redis_endpoint(std::string_view url, RedisEndpoint& out) {
  out = RedisEndpoint{};
  const auto sep = url.find("://");
  if (sep == std::string_view::npos)
    return "expected redis://[user:password@]host[:port][/db], "
           "unix:///path.sock[?db=N], redis+sentinel://host:port,host:port/mastername[/db] or "
           "redis+cluster://host:port,host:port (rediss://, rediss+sentinel://, "
           "rediss+cluster:// for TLS)";
  const std::string scheme = lower(url.substr(0, sep));
  const std::string_view rest = url.substr(sep + 3);
  if (scheme == "redis") return parse_tcp_url(rest, out);
  if (scheme == "unix") return parse_unix_url(rest, out);
  if (scheme == "redis+sentinel") return parse_sentinel_url(rest, out);
  if (scheme == "redis+cluster") return parse_cluster_url(rest, out);
  // TLS to every server the URL leads to: the node, the sentinels and the
  // masters they name, every node of the cluster.
  out.tls = true;
  if (scheme == "rediss") return parse_tcp_url(rest, out);
  if (scheme == "rediss+sentinel") return parse_sentinel_url(rest, out);
  if (scheme == "rediss+cluster") return parse_cluster_url(rest, out);
  out.tls = false;
  return fmt::format(
      "unsupported scheme \"{}\" (expected redis://, rediss://, unix://, redis+sentinel://, "
      "rediss+sentinel://, redis+cluster:// or rediss+cluster://)",
      scheme);
}

}  // namespace

std::string redact_redis_url(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::string(url);
  std::string out(url);
  const std::string scheme = lower(url.substr(0, sep));
  const std::size_t rest = sep + 3;
  if (scheme == "unix") {
    // Every password= parameter's value, wherever it is in the query.
    for (auto q = out.find('?', rest); q != std::string::npos; q = out.find('&', q + 1)) {
      if (out.compare(q + 1, 9, "password=") != 0) continue;
      const auto value = q + 10;
      const auto end = out.find('&', value);
      out.replace(value, (end == std::string::npos ? out.size() : end) - value, redacted_secret);
    }
    return out;
  }
  const auto authority_end = std::min(out.find_first_of("/?#", rest), out.size());
  const auto at = out.rfind('@', authority_end);
  if (at == std::string::npos || at < rest) return out;
  const auto colon = out.find(':', rest);
  if (colon < at && colon + 1 < at) out.replace(colon + 1, at - colon - 1, redacted_secret);
  return out;
}

std::string describe_redis_endpoint(const RedisEndpoint& endpoint) {
  if (endpoint.is_unix) return "unix:" + endpoint.path;
  if (endpoint.is_sentinel() && endpoint.host.empty()) {
    std::string out = "master \"" + endpoint.master_name + "\" via sentinel";
    for (std::size_t i = 0; i < endpoint.sentinels.size(); ++i)
      out += (i == 0 ? " " : ",") + describe_host_port(endpoint.sentinels[i]);
    return out + (endpoint.tls ? " (TLS)" : "");
  }
  if (endpoint.is_cluster() && endpoint.host.empty()) {
    std::string out = "cluster via";
    for (std::size_t i = 0; i < endpoint.cluster_seeds.size(); ++i)
      out += (i == 0 ? " " : ",") + describe_host_port(endpoint.cluster_seeds[i]);
    return out + (endpoint.tls ? " (TLS)" : "");
  }
  return endpoint.host + ":" + std::to_string(endpoint.port) + (endpoint.tls ? " (TLS)" : "");
}

RedisEndpoint parse_redis_url(std::string_view url) {
  RedisEndpoint endpoint;
  if (auto error = parse_redis_endpoint(url, endpoint); !error.empty())
    throw ConfigError("redis_url: " + error);
  return endpoint;
}

namespace {

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

// The tls_* keys mean something only with a rediss:// URL: set without
// one, the operator believes the link is encrypted when it is not. The files
// are only checked for being readable here; their contents are loaded once,
// when the engine is built.
void validate_redis_tls(const Config& config) {
  constexpr std::string_view only_with_tls =
      "only with a TLS redis.url (rediss://, rediss+sentinel://, rediss+cluster://)";
  const bool tls = config.redis && config.redis->tls;
  const std::pair<const char*, const std::string*> files[] = {
      {"tls_ca_file", &config.redis_tls_ca_file},
      {"tls_cert_file", &config.redis_tls_cert_file},
      {"tls_key_file", &config.redis_tls_key_file}};
  for (const auto& [key, value] : files) {
    if (value->empty()) continue;
    if (!tls) throw ConfigError(fmt::format("redis.{}: {}", key, only_with_tls));
    if (!std::ifstream(*value))
      throw ConfigError(fmt::format("redis.{}: cannot read {}", key, *value));
  }
  if (!tls && (!config.redis_tls_server_name.empty() || !config.redis_tls_verify))
    throw ConfigError(fmt::format(
        "redis.{}: {}", config.redis_tls_server_name.empty() ? "tls_verify" : "tls_server_name",
        only_with_tls));
  if (config.redis_tls_cert_file.empty() != config.redis_tls_key_file.empty())
    throw ConfigError(
        fmt::format("redis.{}: a client certificate needs both tls_cert_file and "
                    "tls_key_file",
                    config.redis_tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file"));
  for (char c : config.redis_tls_server_name)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/')
      throw ConfigError("redis.tls_server_name: a host name, without spaces or control characters");
}

}  // namespace

std::string check_redis_url(const Config& c) {
  if (c.redis_url.empty()) return {};
  RedisEndpoint endpoint;
  return parse_redis(c.redis_url, endpoint);
}

// A prefix is pasted into channel names; a glob character there would let a
// PSUBSCRIBE-minded reader see it as a pattern, and whitespace is a typo.
std::string check_prefix(const Config& c) {
  for (char ch : c.prefix)
    if (std::string_view("*?[]\\").find(ch) != std::string_view::npos ||
        white_space.find(ch) != std::string_view::npos || static_cast<unsigned char>(ch) < 0x20)
      return fmt::format("must not contain '*', '?', '[', ']', '\\\\' or whitespace, got \"{}\"",
                         c.prefix);
  return {};
}

std::string redact_if_set(std::string_view value) {
  return value.empty() ? std::string() : std::string(redacted_secret);
}

void validate_redis(Config& config) {
  if (config.redis_reconnect_min_ms > config.redis_reconnect_max_ms)
    throw ConfigError(
        fmt::format("redis.reconnect_min_ms: must not exceed redis.reconnect_max_ms ({}), got {}",
                    config.redis_reconnect_max_ms, config.redis_reconnect_min_ms));
  config.redis.reset();
  if (!config.redis_url.empty()) {
    RedisEndpoint endpoint;
    if (auto error = parse_redis(config.redis_url, endpoint); !error.empty())
      throw ConfigError("redis.url: " + error);
    config.redis = std::move(endpoint);
  }
  validate_redis_tls(config);
  if (!config.redis_sentinel_password.empty()) {
    if (!config.redis || !config.redis->is_sentinel())
      throw ConfigError("redis.sentinel_password: only with a redis+sentinel:// redis.url");
    config.redis->sentinel_password = config.redis_sentinel_password;
  }
  if (config.redis_sharded && (!config.redis || !config.redis->is_cluster()))
    throw ConfigError(
        "redis.sharded: only with a redis+cluster:// redis.url (sharded pub/sub is Redis "
        "Cluster's)");
}

std::string check_history_facilities(const Config& c) {
  std::string error;
  for (const std::string& rule : c.history_facilities)
    if (!parse_history_rule(rule, c.history_ttl_seconds, error)) return error;
  return {};
}

void validate_sharded(const Config& config) {
  if (!config.redis_sharded) return;
  for (const Route& route : config.routes)
    if (route.pattern)
      throw ConfigError(fmt::format(
          "redis.sharded: the route of facility \"{}\" subscribes a pattern, and sharded "
          "pub/sub has no pattern subscribe",
          route.facility));
}

void validate_history(Config& config) {
  config.history_rules.clear();
  std::string error;
  for (const std::string& text : config.history_facilities) {
    auto rule = parse_history_rule(text, config.history_ttl_seconds, error);
    if (!rule) throw ConfigError("history.facilities: " + error);
    config.history_rules.push_back(std::move(*rule));
  }
  if (config.history_rules.empty()) return;
  if (!config.redis)
    throw ConfigError(
        "history.facilities: needs redis.url (history is kept in Redis Streams; the memory "
        "engine keeps none)");
  if (config.redis->is_cluster())
    throw ConfigError(
        "history.facilities: not with redis+cluster:// yet (the history script orders every "
        "channel by one clock key, and a cluster runs a script on the keys of one slot only)");
  for (const Route& route : config.routes)
    if (const HistoryRule* rule = history_for(config.history_rules, route.facility))
      throw ConfigError(fmt::format(
          "history.facilities: \"{}\" matches the routed facility \"{}\"; a route's channels "
          "are the application's own and get no history",
          rule->glob, route.facility));
}

}  // namespace wsrelay
