#pragma once
// The HTTP answers that are not WebSocket upgrades nor health/metrics: the
// embedded JavaScript client (server.client_path) and the demo chat page
// (server.demo, at /demo/). Pure: built from the configuration and the
// request's values, tested by feeding them.
#include <optional>
#include <string>
#include <string_view>

#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

struct Config;

struct HttpAnswer {
  int status = 200;
  std::string reason;   // for the log
  std::string headers;  // extra header lines, each ending in \r\n
  std::string body;
};

// The facility of the demo's chat room, and the flags its connections ask for.
inline constexpr std::string_view demo_facility = "demo";
inline constexpr Flags demo_room_flags = subscribe_broadcast | publish_broadcast | echo;
inline constexpr Flags demo_personal_flags = subscribe_user | publish_user | echo;

// GET {client_path}: the client with an ETag; 304 when `if_none_match`
// names it (a list or "*", as RFC 9110 §13.1.2 allows).
HttpAnswer client_script_answer(std::string_view if_none_match);

// What the router serves for `path` when the demo is on: the page at
// /demo/, a redirect from /demo. nullopt for any other path.
enum class DemoRoute { page, redirect };
std::optional<DemoRoute> demo_route(const Config& config, std::string_view path);

// The demo page for a visitor with `identity` (the authorizer's answer to
// the page request, as if it were the personal connection's handshake): its
// personal panel appears when the identity has a user.
HttpAnswer demo_page_answer(const Config& config, const Identity& identity);

}  // namespace wsrelay
