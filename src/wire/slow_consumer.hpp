#pragma once
// What happens to a client that reads slower than messages arrive, per
// facility (pure: no I/O). `websocket.slow_consumer_policies` is a list of
// "GLOB=POLICY" rules, GLOB a facility pattern (facility_pattern.hpp); the
// first rule whose glob matches the connection's facility decides, and
// `close` applies when none does.
//
// - close: the session is closed with 1013 once its queue passes the hard
//   limit (max_queue_bytes), or stays over the soft limit too long.
// - drop-oldest: to make room, the oldest queued data messages are dropped;
//   the session stays open.
// - keep-latest: queued messages superseded by a newer one on the same
//   channel are dropped first, then the oldest; for feeds where only the
//   newest value matters (prices, positions, scores).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

enum class SlowConsumerPolicy : std::uint8_t { close, drop_oldest, keep_latest };

std::string_view to_string(SlowConsumerPolicy policy);

struct SlowConsumerRule {
  std::string glob;  // a facility pattern (facility_pattern.hpp)
  SlowConsumerPolicy policy = SlowConsumerPolicy::close;

  bool operator==(const SlowConsumerRule&) const = default;
};

// Parses "GLOB=POLICY". Returns the reason it is not a rule in `error`.
std::optional<SlowConsumerRule> parse_slow_consumer_rule(std::string_view text, std::string& error);

// The first matching rule's policy, `close` when none matches.
SlowConsumerPolicy policy_for(const std::vector<SlowConsumerRule>& rules,
                              std::string_view facility);

}  // namespace wsrelay
