// [publish_api]: the API keys, from the configuration and from a file.
#include <wsrelay/config/config_publish_api.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

// A key travels in an Authorization header: visible ASCII, no blanks.
std::string check_key(const std::string& key, std::string_view where) {
  if (key.empty()) return fmt::format("{} is empty", where);
  for (const char c : key)
    if (c < 0x21 || c > 0x7e)
      return fmt::format(
          "{} has a character that is not visible ASCII (no spaces; a key is sent as "
          "\"Authorization: Bearer <key>\")",
          where);
  return {};
}

}  // namespace

std::string redact_whole(std::string_view) {
  return std::string(redacted_secret);
}

std::string check_publish_api_keys(const Config& c) {
  for (std::size_t i = 0; i < c.publish_api_keys.size(); ++i)
    if (auto error = check_key(c.publish_api_keys[i], fmt::format("key {}", i + 1)); !error.empty())
      return error;
  return {};
}

void validate_publish_api(Config& config) {
  config.publish_api_key_list = config.publish_api_keys;
  if (!config.publish_api_keys_file.empty()) {
    const std::string& path = config.publish_api_keys_file;
    std::ifstream in(path);
    if (!in)
      throw ConfigError(
          fmt::format("publish_api.keys_file: cannot read \"{}\": {}", path, std::strerror(errno)));
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const std::string_view key = trim(line, white_space);
      if (key.empty() || key.front() == '#') continue;
      if (auto error = check_key(std::string(key), fmt::format("line {}", number)); !error.empty())
        throw ConfigError(fmt::format("publish_api.keys_file: \"{}\": {}", path, error));
      config.publish_api_key_list.emplace_back(key);
    }
    if (in.bad()) throw ConfigError(fmt::format("publish_api.keys_file: cannot read \"{}\"", path));
  }
  if (config.publish_api_enabled && config.publish_api_key_list.empty())
    throw ConfigError(
        "publish_api.enabled: needs at least one key in publish_api.keys or "
        "publish_api.keys_file (WSRELAY_PUBLISH_API_KEYS)");
  if (config.publish_api_admin_only && config.admin_listen.empty())
    throw ConfigError(
        "publish_api.admin_only: needs server.admin_listen (the listener it is served on)");
}

}  // namespace wsrelay
