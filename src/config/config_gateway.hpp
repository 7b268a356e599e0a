#pragma once
// The rules of the gateway's settings (gateway_settings.hpp: the [server],
// [websocket], [log] and [shutdown] tables), kept apart from config.cpp's
// table of keys. Each check_* returns the reason a value is wrong, "" when it
// is fine (config.cpp prefixes the key and the origin); each validate_*
// checks the rules between keys and fills the derived fields, and throws
// ConfigError.
#include <string>

namespace wsrelay {

struct Config;

std::string check_listen(const Config& c);
std::string check_admin_listen(const Config& c);
std::string check_websocket_url(const Config& c);
std::string check_subprotocols(const Config& c);
std::string check_session_cookie(const Config& c);
std::string check_client_path(const Config& c);
std::string check_log_level(const Config& c);
std::string check_log_format(const Config& c);
std::string check_slow_consumer_policies(const Config& c);

// [websocket]: the queue limits against the message limit, the heartbeat.
void validate_websocket(Config& config);
// [shutdown] and [server]: the drain within the deadline, the served paths,
// the listen addresses; the per-address limits and slow-consumer rules parsed.
void validate_server(Config& config);

}  // namespace wsrelay
