#pragma once
// The [[routes]] tables: read from the TOML file only (a route is a table,
// not a key a variable or --set could carry), checked as they are read and
// against each other, printed back by to_toml().
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include <wsrelay/config/route_settings.hpp>

namespace wsrelay {

// `node` is the value of the top-level `routes` key. Throws ConfigError
// naming the source line and the key ("wsrelay.toml:12: routes[2].channel: ...").
void parse_routes(RouteSettings& settings, const toml::node& node, std::string_view source);

// The rules between routes (throws ConfigError naming routes[N]).
void validate_routes(const RouteSettings& settings);

// Appends one [[routes]] table per route.
void append_routes_toml(std::string& out, const RouteSettings& settings);

// A TOML basic string, escaped: also what to_toml() writes every string with.
void append_toml_string(std::string& out, std::string_view s);

}  // namespace wsrelay
