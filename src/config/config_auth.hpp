#pragma once
// The [auth] table's per-key rules and cross-key validation, kept beside the
// code they protect. Each check returns the reason a value is wrong, "" when
// it is fine (config.cpp prefixes the key and the origin).
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

struct Config;

std::string check_auth_backends(const Config& c);
std::string check_allowed_origins(const Config& c);
std::string check_trusted_proxies(const Config& c);
std::string check_auth_rules(const Config& c);
std::string check_jwt_keys(const Config& c);
std::string check_jwt_cookie(const Config& c);
std::string check_jwt_query_param(const Config& c);
std::string check_header_name(const std::string& name);
std::string check_callback_forward_headers(const Config& c);
std::string check_auth_callback_url(const Config& c);
// A site may take a shared key in the callback URL's query: every value
// there is printed as redacted_secret.
std::string redact_query_values(std::string_view url);
// Each entry an address or CIDR block (auth.trusted_proxies, server.address_limits_exempt).
std::string check_cidr_blocks(const std::vector<std::string>& blocks);

// Rules between keys, and the parsed forms (trusted_proxy_blocks,
// static_rules). Throws ConfigError. The key files are read by the
// authorization layer, once per load (auth.hpp: load_auth).
void validate_auth(Config& config);

}  // namespace wsrelay
