// The rules of the gateway's settings: config_gateway.hpp.
#include <wsrelay/config/config_gateway.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/protocol.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

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

}  // namespace

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

static constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
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

void validate_websocket(Config& config) {
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
}

void validate_server(Config& config) {
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
}

}  // namespace wsrelay
