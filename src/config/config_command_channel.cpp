// [command_channel]: the allowed commands, the key prefix, the path.
#include <wsrelay/config/config_command_channel.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/command_table.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace

// A name the table does not hold can never run, whatever the file says:
// refusing it at start-up tells the operator at once, instead of every
// client being told not_allowed.
std::string check_command_allowed(const Config& c) {
  for (const auto& name : c.command_channel_allowed) {
    const std::string command = upper(name);
    if (always_refused(command))
      return fmt::format("\"{}\" is always refused on the command channel", name);
    if (find_command(command) == nullptr)
      return fmt::format(
          "\"{}\" is not a command the command channel can run (docs/command-channel.md lists "
          "them)",
          name);
  }
  return {};
}

std::string check_command_key_prefix(const Config& c) {
  return check_key_prefix_template(c.command_channel_key_prefix);
}

std::string check_command_key_mode(const Config& c) {
  if (c.command_channel_key_mode == "confined" || c.command_channel_key_mode == "explicit")
    return {};
  return fmt::format("must be confined or explicit; got \"{}\"", c.command_channel_key_mode);
}

std::string check_command_path(const Config& c) {
  const std::string& p = c.command_channel_path;
  if (p.size() < 2 || p.front() != '/' || p.back() == '/')
    return fmt::format("must start with '/' and not end with it, got \"{}\"", p);
  for (char ch : p)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '?' || ch == '#' || ch == '%')
      return fmt::format("must not contain whitespace, '?', '#' or '%', got \"{}\"", p);
  return {};
}

void validate_command_channel(Config& config) {
  config.command_channel_allowed_names.clear();
  for (const auto& name : config.command_channel_allowed) {
    std::string command = upper(name);
    if (std::find(config.command_channel_allowed_names.begin(),
                  config.command_channel_allowed_names.end(),
                  command) == config.command_channel_allowed_names.end())
      config.command_channel_allowed_names.push_back(std::move(command));
  }
  if (!config.command_channel_enabled) return;
  // The memory engine has no keys: a channel that answers every command
  // with an error would only hide the mistake until the first client.
  if (config.redis_url.empty())
    throw ConfigError(
        "command_channel.enabled: needs redis.url (the in-process memory engine has no keys to "
        "run commands on)");
  const std::string& path = config.command_channel_path;
  if (path.rfind(config.websocket_url, 0) == 0 || path + "/" == config.websocket_url)
    throw ConfigError(fmt::format(
        "command_channel.path: must not be under server.websocket_url (\"{}\"), got \"{}\"",
        config.websocket_url, path));
  for (const std::string_view taken :
       {std::string_view("/healthz"), std::string_view("/readyz"), std::string_view("/metrics"),
        std::string_view("/api/publish"), std::string_view("/demo"), std::string_view("/demo/"),
        std::string_view(config.client_path)})
    if (path == taken)
      throw ConfigError(
          fmt::format("command_channel.path: \"{}\" is already another endpoint's path", path));
  if (config.command_channel_max_arg_bytes > config.command_channel_max_command_bytes)
    throw ConfigError(fmt::format(
        "command_channel.max_arg_bytes: must be at most command_channel.max_command_bytes ({}), "
        "got {}",
        config.command_channel_max_command_bytes, config.command_channel_max_arg_bytes));
}

}  // namespace wsrelay
