#pragma once
// The [command_channel] table (docs/command-channel.md): a WebSocket
// endpoint where a client sends Redis commands, confined to keys of its own.
// Plain data, loaded and checked by config.hpp (config_command_channel.cpp).
#include <cstddef>
#include <string>
#include <vector>

#include <wsrelay/wire/command_table.hpp>

namespace wsrelay {

struct CommandChannelSettings {
  bool command_channel_enabled = false;
  std::string command_channel_path = "/cmd";
  // Command names (any case), each in the command table and not always refused.
  std::vector<std::string> command_channel_allowed = [] {
    std::vector<std::string> names;
    for (const auto name : default_allowed_commands()) names.emplace_back(name);
    return names;
  }();
  std::string command_channel_key_prefix = "cmd:{user}:";
  std::string command_channel_key_mode = "confined";  // or "explicit"
  std::size_t command_channel_max_args = 64;          // the command's name included
  std::size_t command_channel_max_arg_bytes = 16384;
  std::size_t command_channel_max_command_bytes = 65536;
  int command_channel_max_in_flight = 16;  // commands waiting for Redis, per connection
  std::size_t command_channel_max_reply_bytes = 1024 * 1024;
  int command_channel_max_refusals = 20;  // refused commands before close 1008; 0: never

  // Derived by validate(): `allowed` in upper case.
  std::vector<std::string> command_channel_allowed_names;

  bool operator==(const CommandChannelSettings&) const = default;
};

}  // namespace wsrelay
