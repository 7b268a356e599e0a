#pragma once
// The Redis command channel's frames (docs/command-channel.md), pure: the
// client's JSON request in, the JSON answer out. No I/O; the connection side
// is CommandSession.
//
//   -> {"command": "SET key1 15", "sessionId": "...", "date": 1700000000000}
//   -> {"command": ["SET", "key1", "a value with spaces"], "date": 1700000000000}
//   <- {"date": 1700000000000, "sessionId": "...", "ok": true, "result": "OK"}
//   <- {"date": 1700000000000, "ok": false, "error": {"code": "not_allowed", "message": "..."}}
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

// The longest sessionId echoed; a longer one is bad_json.
inline constexpr std::size_t max_command_session_id_bytes = 256;

struct CommandRequest {
  ArgvOrError command;  // the client's argv, not yet checked against the policy
  // What the answer echoes: the client's "date" as it was written (a JSON
  // number), else `now_ms`; its "sessionId" when it sent one.
  std::string date;
  std::optional<std::string> session_id;
};

// Parses one message of the client. A malformed one gives a CommandRequest
// whose command is a bad_json error (the answer still echoes what could be
// read). Unknown fields are ignored. The string form goes through
// tokenize_command; the array form takes strings and integers.
CommandRequest parse_command_request(std::string_view payload, std::int64_t now_ms);

// {"date": ..., ["sessionId": ...,] "ok": false, "error": {"code": ..., "message": ...}}
std::string encode_command_error(const CommandRequest& request, const CommandError& error);

// The answer to a reply from Redis: "ok": true with the reply as JSON
// (bulk and status strings as strings, integers as numbers, nil as null,
// arrays as arrays; a string that is not UTF-8 as {"base64": "..."}), or
// "ok": false with redis_error (Redis's error text) or reply_too_large when
// reply_bytes(reply) (command_channel.hpp) passes `max_reply_bytes`.
std::string encode_command_reply(const CommandRequest& request, const RespValue& reply,
                                 std::size_t max_reply_bytes);

}  // namespace wsrelay
