#pragma once
// The pure part of docs/protocol.md: the upgrade target, flags, channel
// names, subprotocol choice, close codes and reasons. No I/O; tested by
// feeding values.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace wsrelay {

// The flags a client may request in the query string (docs/protocol.md §1).
enum Flag : std::uint16_t {
  subscribe_broadcast = 1 << 0,
  subscribe_user = 1 << 1,
  subscribe_group = 1 << 2,
  subscribe_session = 1 << 3,
  publish_broadcast = 1 << 4,
  publish_user = 1 << 5,
  publish_group = 1 << 6,
  publish_session = 1 << 7,
  echo = 1 << 8,
};
using Flags = std::uint16_t;
constexpr Flags all_flags = 0x1ff;
constexpr Flags publish_flags = publish_broadcast | publish_user | publish_group | publish_session;

// "subscribe-broadcast" -> Flag; nullopt for unknown names (which are ignored).
std::optional<Flag> flag_from_name(std::string_view name);
std::string flags_to_string(Flags flags);  // for logs: "subscribe-broadcast,echo"

struct Target {
  std::string facility;
  Flags flags = 0;
};

// Why a request on the WebSocket path is refused: the HTTP status and a
// one-line reason for the body.
struct TargetError {
  int status;
  std::string reason;
};

// Parses "/ws/<facility>?<flags>" against `base` (websocket_url, "/ws/").
// nullopt when the path is not under `base` at all (the router answers 404).
std::optional<std::variant<Target, TargetError>> parse_target(std::string_view target,
                                                              std::string_view base);

// Removes every `name` parameter from the query of `target` and returns the
// first one's value (percent-decoded; "" when absent or malformed), so a
// credential carried in the URL is used once and never logged or passed on.
std::string take_query_param(std::string& target, std::string_view name);

// True when `facility` is 1-128 characters of [A-Za-z0-9_.-] and not made of
// dots only. A facility is part of a Redis channel name, so this is what keeps
// a client from reaching another audience's channel or sending a glob.
bool valid_facility(std::string_view facility);
// The rule, as every refusal of a facility states it.
inline constexpr std::string_view facility_rule =
    "facility must be 1-128 characters of A-Z a-z 0-9 _ . - (not only dots)";

// Who a connection belongs to, as the authorizer decided.
struct Identity {
  std::optional<std::string> user;
  std::vector<std::string> groups;
  std::optional<std::string> session;
};

enum class Audience { broadcast, user, group, session };

// ws4redis channel names: [prefix:]broadcast:facility,
// [prefix:]user:<name>:facility, [prefix:]group:<name>:facility,
// [prefix:]session:<key>:facility.
std::string channel_name(std::string_view prefix, Audience audience, std::string_view key,
                         std::string_view facility);

struct ChannelSet {
  std::vector<std::string> subscribe;  // deduplicated, in audience order
  std::vector<std::string> publish;
};

// The channels a connection with `identity` and granted `flags` uses on
// `facility`. A user/session audience with no user/session gives no channel.
ChannelSet channels_for(const Identity& identity, std::string_view facility, Flags flags,
                        std::string_view prefix);

// An RFC 9110 token (1 or more tchar): what a header name, a cookie name or
// a subprotocol (RFC 6455 §4.1) is made of.
bool is_token(std::string_view text);

// docs/protocol.md §1: with no accepted list the first offered subprotocol is
// selected; with one, the first offered that is in it; "" means none. Only
// tokens are ever selected: an offered value that is not one is skipped.
std::string select_subprotocol(std::string_view offered_header,
                               const std::vector<std::string>& accepted);

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

bool valid_utf8(std::string_view bytes);

// Close codes (RFC 6455 §7.4.1) used by the gateway.
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;
constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t invalid_payload = 1007;
constexpr std::uint16_t policy = 1008;
constexpr std::uint16_t too_big = 1009;
constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

// A close frame the gateway sends: its code and its reason, word for word.
// Clients decide on them (the JavaScript client does not reconnect after
// publish_not_allowed), so every one is listed in docs/protocol.md §6.1,
// and tests/unit/test_protocol_doc.cpp keeps that table equal to `all`.
struct CloseReason {
  std::uint16_t code;
  std::string_view text;
};

namespace close_reason {
inline constexpr CloseReason shutting_down{close_code::going_away, "server shutting down"};
inline constexpr CloseReason idle_timeout{close_code::going_away, "idle timeout"};
// The frame parser's (RFC 6455 §5).
inline constexpr CloseReason reserved_bits{close_code::protocol_error, "reserved bits set"};
inline constexpr CloseReason unknown_opcode{close_code::protocol_error, "unknown opcode"};
inline constexpr CloseReason not_masked{close_code::protocol_error, "client frame not masked"};
inline constexpr CloseReason length_out_of_range{close_code::protocol_error,
                                                 "frame length out of range"};
inline constexpr CloseReason fragmented_control{close_code::protocol_error,
                                                "fragmented control frame"};
inline constexpr CloseReason control_too_long{close_code::protocol_error,
                                              "control frame over 125 bytes"};
inline constexpr CloseReason stray_continuation{close_code::protocol_error,
                                                "continuation without a message"};
inline constexpr CloseReason nested_message{close_code::protocol_error,
                                            "new message inside a fragmented one"};
inline constexpr CloseReason short_close{close_code::protocol_error,
                                         "close frame with a 1-byte payload"};
inline constexpr CloseReason invalid_close_code{close_code::protocol_error, "invalid close code"};
inline constexpr CloseReason close_text_not_utf8{close_code::invalid_payload,
                                                 "close reason is not UTF-8"};
inline constexpr CloseReason text_not_utf8{close_code::invalid_payload,
                                           "text message is not valid UTF-8"};
inline constexpr CloseReason too_big{close_code::too_big, "message too big"};
// Policy.
inline constexpr CloseReason publish_not_allowed{close_code::policy,
                                                 "publishing is not allowed on this connection"};
inline constexpr CloseReason publish_rate{close_code::policy, "publish rate limit exceeded"};
inline constexpr CloseReason publish_refused{close_code::policy, "publish refused by Redis"};
inline constexpr CloseReason publish_refused_noperm{close_code::policy,
                                                    "publish refused by Redis (NOPERM)"};
inline constexpr CloseReason subscription_refused{close_code::policy,
                                                  "subscription refused by Redis"};
inline constexpr CloseReason subscription_refused_noperm{close_code::policy,
                                                         "subscription refused by Redis (NOPERM)"};
// The command channel (docs/command-channel.md).
inline constexpr CloseReason too_many_refusals{close_code::policy, "too many refused commands"};
inline constexpr CloseReason commands_flood{close_code::policy,
                                            "too many commands waiting for answers"};
// Try again later.
inline constexpr CloseReason slow_consumer{close_code::try_again_later, "slow consumer"};
inline constexpr CloseReason publish_dropped{close_code::try_again_later,
                                             "backend unavailable, publish dropped"};
// History (docs/history.md): live delivery on a history channel was
// interrupted (the subscriber link dropped, or messages were dropped before
// the shards), or the replay could not be read; the client resumes from its
// position.
inline constexpr CloseReason history_interrupted{close_code::try_again_later,
                                                 "history: live delivery interrupted, resume"};

inline constexpr std::array all{
    shutting_down,          idle_timeout,         reserved_bits,
    unknown_opcode,         not_masked,           length_out_of_range,
    fragmented_control,     control_too_long,     stray_continuation,
    nested_message,         short_close,          invalid_close_code,
    close_text_not_utf8,    text_not_utf8,        too_big,
    publish_not_allowed,    publish_rate,         publish_refused,
    publish_refused_noperm, subscription_refused, subscription_refused_noperm,
    too_many_refusals,      commands_flood,       slow_consumer,
    publish_dropped,        history_interrupted,
};
}  // namespace close_reason

}  // namespace wsrelay
