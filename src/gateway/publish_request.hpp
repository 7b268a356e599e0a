#pragma once
// The HTTP publish API's pure part (docs/publishing.md, "HTTP"): the two
// request forms, the API key check and the JSON answers. No I/O; the
// connection side is HttpSession::serve_publish_api (http_publish.cpp).
//
//   POST /api/publish   Content-Type: application/json
//     {"facility": "chat", "broadcast": true, "users": ["john"], "groups": [],
//      "sessions": [], "message": "hi", "expire": 60}
//   POST /api/publish?facility=chat&user=john&group=g&broadcast&expire=60
//     Content-Type: application/octet-stream, the body is the message (any bytes)
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wsrelay/publisher/publisher.hpp>

namespace wsrelay {

inline constexpr std::string_view publish_api_path = "/api/publish";

// The longest `expire` taken: a year.
inline constexpr int max_publish_expire_seconds = 365 * 24 * 3600;
// Bounds on one request's fan-out: each channel costs the engine a copy of
// the message, so a small body naming many audiences must not cost
// gigabytes. Over either: 413.
inline constexpr std::size_t max_publish_channels = 1000;
inline constexpr std::size_t max_publish_fanout_bytes = 64 * 1024 * 1024;  // channels x message

struct PublishRequest {
  PublishTarget target;
  std::string message;
  std::optional<int> expire_seconds;  // none: redis.expire_seconds
};

// Why a request is refused: its status (400 malformed, 413 too large a
// fan-out) and one line for {"error": ...}.
struct PublishRequestError {
  int status = 400;
  std::string message;
};

using ParsedPublishRequest = std::variant<PublishRequest, PublishRequestError>;

// The JSON form. Every field but `facility` and `message` is optional;
// unknown fields, wrong types, a message that is not a string and a target
// check_target refuses are errors. (JSON strings are Unicode: a binary
// message takes the other form.)
ParsedPublishRequest parse_publish_json(std::string_view body);

// The binary form: the target from the query string (`facility`, `broadcast`,
// and `user`, `group`, `session`, each repeatable, percent-decoded;
// `expire`), the message is `body` as it is. Unknown parameters are errors.
ParsedPublishRequest parse_publish_query(std::string_view query, std::string body);

// True when `authorization` is "Bearer <key>" with <key> one of `keys`.
// Compares digests in constant time and tries every key, so the time taken
// says nothing about how much of a key matched, nor which one.
bool publish_key_accepted(std::string_view authorization, const std::vector<std::string>& keys);

// {"error": "<message>"}, the body of every refusal.
std::string publish_error_json(std::string_view message);

}  // namespace wsrelay
