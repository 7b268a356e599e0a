#pragma once
// Facility patterns: the one pattern language over facilities (pure), used
// by `auth.rules`, the JWT `allow` claim and
// `websocket.slow_consumer_policies`.
//
// Grammar: one or more of the facility characters [A-Za-z0-9_.-]
// (docs/protocol.md §1) and two wildcards: `*`, any run of characters
// (empty included), and `?`, exactly one character. A pattern matches the
// whole facility (anchored at both ends), case-sensitively. There are no
// character classes and no escapes: a facility holds neither `*` nor `?`.
#include <string>
#include <string_view>

namespace wsrelay {

// True when `pattern` follows the grammar above.
bool valid_facility_pattern(std::string_view pattern);

// "" when `pattern` follows the grammar, else why not (for a config error).
std::string check_facility_pattern(std::string_view pattern);

// True when `facility` matches `pattern` (glob_match: the grammar above is
// a subset of Redis's glob).
bool facility_matches(std::string_view pattern, std::string_view facility);

// Redis's glob (stringmatchlen), the one matcher: `*`, `?`, `[abc]`,
// `[^a-z]`, `[a-z]`, `\x`; anchored at both ends. Used as it is for a
// route's PSUBSCRIBE pattern by the in-process engine (routes.hpp). Greedy
// with one backtrack point (the last `*`): linear in practice, never worse
// than O(pattern × text), no recursion.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace wsrelay
