#pragma once
// The [publish_api] table's rules (docs/publishing.md, "HTTP"). Each check
// returns the reason a value is wrong, "" when it is fine (config.cpp
// prefixes the key and the origin). Messages never quote a key: they are
// secrets, and errors go to terminals and logs.
#include <string>
#include <string_view>

namespace wsrelay {

struct Config;

std::string check_publish_api_keys(const Config& c);
// What --check-config prints for each of publish_api.keys: a key is a
// secret as a whole.
std::string redact_whole(std::string_view value);

// Reads publish_api.keys_file, fills publish_api_key_list (keys, then the
// file's), and checks the rules between keys: an enabled API needs a key,
// admin_only needs server.admin_listen. Throws ConfigError.
void validate_publish_api(Config& config);

}  // namespace wsrelay
