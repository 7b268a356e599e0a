#pragma once
// Permission tables keyed by facility pattern: the static rules of
// `auth.rules`, and the per-facility allow map a JWT claim or a proxy header
// carries. Pure: parses and matches text.
//
// Facilities are matched by facility patterns ("chat", "chat-*", "room-?",
// "*"; facility_pattern.hpp). A flag list is made of flag names
// (docs/protocol.md §1), "subscribe-*", "publish-*" or "*" (every flag).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/facility_pattern.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

// One flag-list word ("publish-user", "subscribe-*", "*") as flags; nullopt
// for anything else.
std::optional<Flags> flags_from_word(std::string_view word);

// One `auth.rules` entry, written "PATTERN: WORD WORD ...", for example
//   "chat-*: subscribe-broadcast subscribe-user publish-user require-user"
//   "admin: subscribe-*"
//   "internal-*:"             (nothing allowed: every connection refused)
// where the words are a flag list plus the optional "require-user" (a
// connection without a user is refused with 401).
struct StaticRule {
  std::string pattern;
  Flags allow = 0;
  bool require_user = false;

  bool operator==(const StaticRule&) const = default;
};

// Throws nothing: returns the reason the text is not a rule in `error`.
std::optional<StaticRule> parse_rule(std::string_view text, std::string& error);

// The first rule whose pattern matches `facility`, or null (no rule: the
// backend's decision stands).
const StaticRule* find_rule(const std::vector<StaticRule>& rules, std::string_view facility);

// A per-facility allow map, as a JWT claim `{"chat": ["subscribe-broadcast",
// "publish-user"], "news-*": ["subscribe-*"], "*": []}` carries it. The
// entry for a facility is its exact name if present, else the longest
// matching pattern; a facility no entry matches gets no flag. Unknown flag
// names are ignored, so a token can name flags a newer gateway knows.
struct AllowEntry {
  std::string pattern;
  Flags flags = 0;
};
Flags allowed_for(const std::vector<AllowEntry>& map, std::string_view facility);

// "subscribe-broadcast, publish-user" or space separated, as a proxy header
// carries it; unknown words are ignored.
Flags flags_from_list(std::string_view list);

}  // namespace wsrelay
