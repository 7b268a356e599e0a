#pragma once
// Channel history on Redis Streams (docs/history.md), the pure parts: the
// `history.facilities` rules, stream ids, the keys, the two Lua scripts, the
// marked live payload, the envelope sent to clients that asked for
// positions, and the decision a resume makes from what the read script
// returned (replay these entries, or tell the client it missed some).
//
// Why one id sequence for every channel: the publish script takes its ids
// from one clock key ([prefix:]history:clock), so ids are ordered across
// channels as Redis ran the publishes. A client on several channels then
// has one position (the last id it got) and resumes with one `since`.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

struct RespValue;

// "GLOB=ENTRIES" or "GLOB=ENTRIES/TTL_SECONDS" (history.facilities): the
// facilities matching GLOB (facility_pattern.hpp) keep the last ENTRIES
// messages of each channel for TTL_SECONDS after the channel's last one.
struct HistoryRule {
  std::string glob;
  std::size_t entries = 0;
  int ttl_seconds = 0;
  bool operator==(const HistoryRule&) const = default;
};

inline constexpr std::size_t max_history_entries = 100000;
inline constexpr int max_history_ttl_seconds = 30 * 24 * 3600;

// Parses one rule; `default_ttl` when it names none. nullopt and `error` set
// when it is no rule.
std::optional<HistoryRule> parse_history_rule(std::string_view text, int default_ttl,
                                              std::string& error);
// The first rule matching `facility`, or null: no history there.
const HistoryRule* history_for(const std::vector<HistoryRule>& rules, std::string_view facility);

// The rule of a ws4redis channel name ([prefix:]audience:...:facility, the
// audience one of broadcast, user, group, session): the facility is what
// follows its last ':'. Null for any other name or when no rule matches.
const HistoryRule* history_for_channel(const std::vector<HistoryRule>& rules,
                                       std::string_view prefix, std::string_view channel);

// A Redis stream id, <ms>-<seq>.
struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const StreamId&) const = default;
};
std::optional<StreamId> parse_stream_id(std::string_view text);
std::string to_string(StreamId id);

// The stream of `channel`: [prefix:]history:<channel without its prefix>.
// Never a channel name (those start with an audience word after the
// prefix), so a stream never takes the key of a stored last message.
std::string history_stream_key(std::string_view prefix, std::string_view channel);
// The id clock shared by every channel: [prefix:]history:clock.
std::string history_clock_key(std::string_view prefix);

// The live payload of a message with history, as the publish script
// PUBLISHes it: marker, id, one space, the message. A plain PUBLISH does not
// start with the marker and passes byte for byte.
inline constexpr std::string_view history_marker{"\0wsrelay-history\0", 17};

struct MarkedPayload {
  StreamId id;
  std::string_view id_text;   // as published
  std::string_view envelope;  // "<id> <message>": what a positions client gets
  std::string_view message;   // what a plain client gets
};
// The parts of a marked payload; nullopt when `payload` is not one (it is
// then delivered as it is).
std::optional<MarkedPayload> parse_marked(std::string_view payload);

// The envelope of a message without a position (a plain PUBLISH on a
// history channel), for a positions client: "- <message>".
std::string unpositioned_envelope(std::string_view message);
// The first frame of a resume whose gap is no longer in the history.
inline constexpr std::string_view history_reset_notice = "reset";

// The scripts, and their SHA-1 in hex for EVALSHA.
//   publish: KEYS stream, clock, channel; ARGV message, entries, ttl_seconds,
//            expire_seconds (SET of the last message when > 0), marker.
//            Returns PUBLISH's count.
//   read:    KEYS the streams; ARGV since ("" = only each stream's last
//            entry), limit. Returns {clock, now_ms, {exists, entries}...}.
std::string_view history_publish_script();
std::string_view history_read_script();
const std::string& history_publish_sha();
const std::string& history_read_sha();

// The argv that publishes `message` on `channel` with history.
std::vector<std::string> history_publish_args(bool by_sha, std::string_view prefix,
                                              const std::string& channel, std::string_view message,
                                              const HistoryRule& rule, int expire_seconds);
// The argv that reads the streams of `channels` for a resume from `since`
// (nullopt: the last entry of each) of at most `limit` entries.
std::vector<std::string> history_read_args(bool by_sha, std::string_view prefix,
                                           const std::vector<std::string>& channels,
                                           std::optional<StreamId> since, std::size_t limit);

// What a connection's replay is made of.
struct HistoryEntry {
  std::size_t channel = 0;  // index into the channels read
  StreamId id;
  std::string message;
};
struct HistoryReplay {
  // The client's position is no longer in the history (trimmed, expired,
  // more than `limit` behind): it gets history_reset_notice and no entries.
  bool reset = false;
  std::vector<HistoryEntry> entries;  // ordered by id
  // Every live message with an id at or below this was published before
  // the read: in the replay, or older than the client's position.
  StreamId watermark;
};
// Decides the replay from the read script's reply. Gap rules, per channel
// (docs/history.md, "Resume"): more than `limit` entries after `since`; the
// first entry after it records a predecessor after `since` (trimmed); the
// stream began after `since` + ttl (an earlier stream may have expired with
// entries after it); no stream at all while `since` + ttl has passed. A
// malformed reply is a reset.
HistoryReplay decide_history_replay(const RespValue& reply, std::optional<StreamId> since,
                                    std::size_t limit, int ttl_seconds);

// The query of a connection's target: `history` (positions wanted) and
// `since=<id>` (resume; implies history). `error` set for a bad since.
struct HistoryRequest {
  bool positions = false;
  std::optional<StreamId> since;
  std::string error;
};
HistoryRequest parse_history_request(std::string_view target);

}  // namespace wsrelay
