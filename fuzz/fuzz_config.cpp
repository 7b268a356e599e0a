// Fuzzes the config loader: a TOML file (parse_config_toml, then validate),
// the Redis URL parser, and the text path of WSRELAY_* variables and --set.
// A ConfigError is the expected way to refuse input; any other exception,
// a crash or a broken property is a finding.
//
// Input: the whole input is a TOML file, and a Redis URL; split at its
// first '=' it is also a --set KEY=VALUE and a NAME=VALUE variable.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <wsrelay/config/config.hpp>

#include "fuzz_support.hpp"

namespace {

using namespace wsrelay;

void check_endpoint(const RedisEndpoint& e) {
  FUZZ_CHECK(e.db >= 0);
  // Redis has no AUTH with a user alone.
  if (!e.user.empty()) FUZZ_CHECK(!e.password.empty());
  if (e.is_unix) {
    FUZZ_CHECK(!e.path.empty() && e.path.front() == '/');
    FUZZ_CHECK(e.host.empty());
  } else {
    FUZZ_CHECK(!e.host.empty());
    FUZZ_CHECK(e.port != 0);
    FUZZ_CHECK(e.path.empty());
  }
}

// validate() either refuses or leaves derived fields that agree with the
// settings they come from.
void check_validate(Config config) {
  try {
    validate(config);
  } catch (const ConfigError& e) {
    FUZZ_CHECK(e.what()[0] != '\0');
    return;
  }
  FUZZ_CHECK(config.max_queue_bytes >= config.max_message_bytes);
  FUZZ_CHECK(config.redis_reconnect_min_ms <= config.redis_reconnect_max_ms);
  FUZZ_CHECK(!config.listen_host.empty());
  FUZZ_CHECK(config.redis.has_value() == !config.redis_url.empty());
  if (config.redis) check_endpoint(*config.redis);
}

// --check-config prints to_toml(); reading that back must give the same
// settings, or the printed file would not be the configuration in force.
void check_to_toml_round_trip(const Config& config) {
  const std::string text = to_toml(config, Secrets::shown);
  Config again;
  try {
    again = parse_config_toml(text, "to_toml");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "to_toml output does not load back: %s\n%s\n", e.what(), text.c_str());
    FUZZ_CHECK(!"to_toml output loads back");
  }
  FUZZ_CHECK(again == config);
}

void fuzz_toml(std::string_view text) {
  Config config;
  try {
    config = parse_config_toml(text, "fuzz.toml");
  } catch (const ConfigError& e) {
    FUZZ_CHECK(e.what()[0] != '\0');
    return;
  }
  check_to_toml_round_trip(config);
  check_validate(config);
}

// Where the password of a redis:// URL is, found the way the parser finds
// it; npos when the URL has none.
std::pair<std::size_t, std::size_t> password_span(std::string_view url) {
  constexpr std::pair<std::size_t, std::size_t> none{std::string_view::npos, 0};
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return none;
  const std::size_t rest = sep + 3;
  const std::string_view authority = url.substr(rest, url.find_first_of("/?#", rest) - rest);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return none;
  const auto colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return none;
  return {rest + colon + 1, at - colon - 1};
}

// Changes every letter and digit of the password to another one of the same
// kind (hex digits stay hex digits), so that the parser takes the very same
// path: percent-escapes still decode, an empty password stays empty.
std::string disguise_password(std::string_view url, std::size_t pos, std::size_t len) {
  std::string out(url);
  auto rotate = [](char c, char first, char last) {
    return c == last ? first : static_cast<char>(c + 1);
  };
  for (std::size_t i = pos; i < pos + len; ++i) {
    char& c = out[i];
    if (c >= '0' && c <= '9') {
      c = rotate(c, '0', '9');
    } else if (c >= 'a' && c <= 'f') {
      c = rotate(c, 'a', 'f');
    } else if (c >= 'A' && c <= 'F') {
      c = rotate(c, 'A', 'F');
    } else if (c >= 'g' && c <= 'z') {
      c = rotate(c, 'g', 'z');
    } else if (c >= 'G' && c <= 'Z') {
      c = rotate(c, 'G', 'Z');
    }
  }
  return out;
}

// "" when `url` parses, else the message.
std::string redis_url_error(std::string_view url, RedisEndpoint* endpoint) {
  try {
    *endpoint = parse_redis_url(url);
    return {};
  } catch (const ConfigError& e) {
    FUZZ_CHECK(std::string_view(e.what()).substr(0, 11) == "redis_url: ");
    return e.what();
  }
}

void fuzz_redis_url(std::string_view url) {
  RedisEndpoint endpoint;
  const std::string error = redis_url_error(url, &endpoint);
  if (error.empty()) check_endpoint(endpoint);

  // Messages get logged, so they must not show the password: the same URL
  // with another password of the same shape gives the very same message.
  const auto [pos, len] = password_span(url);
  if (pos == std::string_view::npos) return;
  RedisEndpoint disguised_endpoint;
  const std::string disguised_error =
      redis_url_error(disguise_password(url, pos, len), &disguised_endpoint);
  FUZZ_CHECK(disguised_error == error);
  if (error.empty()) {
    disguised_endpoint.password = endpoint.password;
    FUZZ_CHECK(disguised_endpoint == endpoint);
  }
}

void fuzz_set(std::string_view input) {
  const auto eq = input.find('=');
  if (eq == std::string_view::npos) return;
  Config config;
  try {
    set_config_value(config, input.substr(0, eq), input.substr(eq + 1), "--set");
  } catch (const ConfigError&) {
    FUZZ_CHECK(config == Config{});  // a refused value changes nothing
    return;
  }
  // A TOML file can only hold UTF-8; flags and variables can hold any byte,
  // which to_toml() cannot print back as TOML.
  if (wsrelay_fuzz::reference_valid_utf8(input)) check_to_toml_round_trip(config);
  check_validate(config);
}

void fuzz_environment(std::string_view input) {
  const auto eq = input.find('=');
  if (eq == std::string_view::npos) return;
  Config config;
  try {
    apply_environment(config,
                      {{std::string(input.substr(0, eq)), std::string(input.substr(eq + 1))}});
  } catch (const ConfigError&) {
    FUZZ_CHECK(config == Config{});
    return;
  }
  check_validate(config);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = wsrelay_fuzz::as_view(data, size);
  fuzz_toml(input);
  fuzz_redis_url(input);
  fuzz_set(input);
  fuzz_environment(input);
  return 0;
}
