#pragma once
// The [command_channel] table's rules. Each check returns the reason a value
// is wrong, "" when it is fine (config.cpp prefixes the key and the origin).
#include <string>

namespace wsrelay {

struct Config;

std::string check_command_allowed(const Config& c);
std::string check_command_key_prefix(const Config& c);
std::string check_command_key_mode(const Config& c);
std::string check_command_path(const Config& c);

// The rules between keys (the channel needs Redis, its path must not clash
// with another endpoint) and the derived names. Throws ConfigError.
void validate_command_channel(Config& config);

}  // namespace wsrelay
