#pragma once
// Channel routes (docs/protocol.md §3.1): the operator maps a facility to
// Redis channels of its own naming, or to PSUBSCRIBE patterns. Pure: the
// route table, the subscription keys that carry a pattern through the hub
// and the shards, Redis's glob matching (for the memory engine), and the
// channels a connection gets on a routed facility.
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/wire/facility_pattern.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

// The flags a route can carry: a route is the broadcast audience of its
// facility.
constexpr Flags route_flag_mask = subscribe_broadcast | publish_broadcast;

struct Route {
  std::string facility;
  std::string channel;                // the Redis channel, or the pattern; used as written
  bool pattern = false;               // PSUBSCRIBE `channel`
  Flags flags = subscribe_broadcast;  // a subset of route_flag_mask
  bool replay = false;                // replay the stored value of `channel` (not a pattern)
  bool operator==(const Route&) const = default;
};

// A subscription key names what a session subscribes to, from the shard to
// the engine: a channel is its own key; a pattern is pattern_marker followed
// by the pattern. No channel the gateway names starts with the marker (a
// ws4redis name starts with the prefix or an audience word, a route's
// channel has no control character), so the two never meet.
inline constexpr char pattern_marker = '\x01';
std::string pattern_key(std::string_view pattern);
bool is_pattern_key(std::string_view key);
std::string_view pattern_of(std::string_view key);  // the key without its marker

// True when some route names `facility`.
bool is_routed(const std::vector<Route>& routes, std::string_view facility);

// The flags a connection may keep on `facility`: every flag on a facility
// no route names; on a routed one, the broadcast flags its routes list and
// every other flag (the user, group and session audiences keep their
// ws4redis names).
Flags route_allowed_flags(const std::vector<Route>& routes, std::string_view facility);

// channels_for() with the routes applied: on a routed facility the
// broadcast audience is its routes (subscribe keys of the routes listing
// subscribe-broadcast, publish channels of those listing publish-broadcast)
// instead of [prefix:]broadcast:<facility>.
ChannelSet routed_channels_for(const Identity& identity, std::string_view facility, Flags flags,
                               std::string_view prefix, const std::vector<Route>& routes);

// The subscription keys whose stored value is never read (GET) for a
// replay or a resync: every pattern, and the channel of every route without
// `replay`.
std::vector<std::string> live_only_keys(const std::vector<Route>& routes);

}  // namespace wsrelay
