#pragma once
// The Redis command channel's pure core (docs/command-channel.md): the
// string form's tokenizer, the key prefix of an identity, and the checks a
// command passes before it may reach Redis, ending in the argv that is sent
// (with redisFormatCommandArgv, never as built text). No I/O, no JSON: the
// request and reply frames are gateway/command_frames.
//
// Safe by construction: a command runs only when it is in the command
// table (command_table.hpp), not always refused, listed in
// command_channel.allowed, within the argument limits, and every argument
// the table says is a key is a plain key that is then confined under the
// connection's prefix. Anything else is a CommandError with a stable code
// and nothing is sent.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <wsrelay/wire/resp.hpp>

namespace wsrelay {

// The facility the authorizers are asked about for a command channel
// connection (auth.rules can name it, e.g. "command-channel: require-user").
inline constexpr std::string_view command_channel_facility = "command-channel";

// The stable error codes of the channel's error objects (docs/command-channel.md).
namespace command_error {
inline constexpr std::string_view bad_json = "bad_json";
inline constexpr std::string_view bad_command = "bad_command";
inline constexpr std::string_view not_allowed = "not_allowed";
inline constexpr std::string_view forbidden_command = "forbidden_command";
inline constexpr std::string_view wrong_arity = "wrong_arity";
inline constexpr std::string_view too_many_args = "too_many_args";
inline constexpr std::string_view arg_too_large = "arg_too_large";
inline constexpr std::string_view command_too_large = "command_too_large";
inline constexpr std::string_view bad_key = "bad_key";
inline constexpr std::string_view key_outside_prefix = "key_outside_prefix";
inline constexpr std::string_view rate_limited = "rate_limited";
inline constexpr std::string_view too_many_in_flight = "too_many_in_flight";
inline constexpr std::string_view redis_unavailable = "redis_unavailable";
inline constexpr std::string_view redis_error = "redis_error";
inline constexpr std::string_view reply_too_large = "reply_too_large";
}  // namespace command_error

// Every code, in the order of wsrelay_commands_refused_total's samples.
inline constexpr std::array<std::string_view, 15> kCommandErrorCodes = {
    command_error::bad_json,          command_error::bad_command,
    command_error::not_allowed,       command_error::forbidden_command,
    command_error::wrong_arity,       command_error::too_many_args,
    command_error::arg_too_large,     command_error::command_too_large,
    command_error::bad_key,           command_error::key_outside_prefix,
    command_error::rate_limited,      command_error::too_many_in_flight,
    command_error::redis_unavailable, command_error::redis_error,
    command_error::reply_too_large,
};

struct CommandError {
  std::string_view code;  // one of command_error
  std::string message;    // one line; may quote client bytes, JSON-escaped by the frame encoder
  friend bool operator==(const CommandError&, const CommandError&) = default;
};

using Argv = std::vector<std::string>;
using ArgvOrError = std::variant<Argv, CommandError>;

// The string form, "SET key1 15": split on runs of ASCII spaces. Refused
// (bad_command): nothing but spaces, a quote (" or '), a backslash, or any
// control character (CR, LF, TAB, NUL, DEL, ...): there is no quoting, so
// a value with a space takes the array form.
ArgvOrError tokenize_command(std::string_view text);

// How clients write keys (command_channel.key_mode).
enum class KeyMode {
  confined,         // the client writes "key1", the gateway sends "<prefix>key1"
  explicit_prefix,  // the client writes "<prefix>key1"; any other key is key_outside_prefix
};

// command_channel.key_prefix: literal text with {user} and {session}.
// Returns why a template is refused, "" when fine: it must start with
// literal text, name {user} or {session} (at least one), every placeholder
// must be followed by a literal character that no encoded identity holds
// (anything but A-Z a-z 0-9 _ . - %, e.g. ':'), no other {...}, no
// control character, space or glob character (* ? [ ] \).
std::string check_key_prefix_template(std::string_view templ);
bool prefix_needs_user(std::string_view templ);
bool prefix_needs_session(std::string_view templ);
// The prefix of an identity; nullopt when the template names a part the
// identity lacks (anonymous: no user). Each value is percent-encoded but
// for A-Z a-z 0-9 _ . -, so no identity's prefix starts another's (user
// "a:b" is "a%3Ab"; with "cmd:{user}:" user "a" cannot reach it with key
// "b:x").
std::optional<std::string> expand_key_prefix(std::string_view templ,
                                             const std::optional<std::string>& user,
                                             const std::optional<std::string>& session);

struct CommandPolicy {
  const std::vector<std::string>* allowed = nullptr;  // upper case names
  std::size_t max_args = 64;                          // the name included
  std::size_t max_arg_bytes = 65536;                  // each argument
  std::size_t max_command_bytes = 262144;             // all arguments together
  KeyMode key_mode = KeyMode::confined;
};

// Checks `argv` (the client's, either form) and returns what to send: the
// name in upper case, each key confined under `prefix`. In order: the
// argument count and sizes (before anything looks at the bytes), the name
// (always refused, in the table, allowed), the arity, then every key: not
// empty, no control character, space or glob character (* ? [ ] \), and
// in explicit mode starting with `prefix`. Values are not looked at: in the
// array form they are sent as given (the string form has none of those
// characters to begin with).
ArgvOrError prepare_command(Argv argv, std::string_view prefix, const CommandPolicy& policy);

// What a reply weighs against command_channel.max_reply_bytes: its
// strings' bytes and 16 per element, about what its JSON takes.
std::size_t reply_bytes(const RespValue& reply);

}  // namespace wsrelay
