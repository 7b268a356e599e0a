#include <wsrelay/wire/routes.hpp>

#include <algorithm>

namespace wsrelay {

std::string pattern_key(std::string_view pattern) {
  std::string key;
  key.reserve(pattern.size() + 1);
  key += pattern_marker;
  key += pattern;
  return key;
}

bool is_pattern_key(std::string_view key) {
  return !key.empty() && key.front() == pattern_marker;
}

std::string_view pattern_of(std::string_view key) {
  return is_pattern_key(key) ? key.substr(1) : key;
}

bool is_routed(const std::vector<Route>& routes, std::string_view facility) {
  return std::any_of(routes.begin(), routes.end(),
                     [&](const Route& r) { return r.facility == facility; });
}

Flags route_allowed_flags(const std::vector<Route>& routes, std::string_view facility) {
  if (!is_routed(routes, facility)) return all_flags;
  Flags allowed = all_flags & ~route_flag_mask;
  for (const Route& route : routes)
    if (route.facility == facility) allowed |= route.flags & route_flag_mask;
  return allowed;
}

namespace {

void add_unique(std::vector<std::string>& list, std::string key) {
  if (std::find(list.begin(), list.end(), key) == list.end()) list.push_back(std::move(key));
}

}  // namespace

ChannelSet routed_channels_for(const Identity& identity, std::string_view facility, Flags flags,
                               std::string_view prefix, const std::vector<Route>& routes) {
  if (!is_routed(routes, facility)) return channels_for(identity, facility, flags, prefix);
  ChannelSet set;
  for (const Route& route : routes) {
    if (route.facility != facility) continue;
    if ((flags & subscribe_broadcast) && (route.flags & subscribe_broadcast))
      add_unique(set.subscribe, route.pattern ? pattern_key(route.channel) : route.channel);
    if ((flags & publish_broadcast) && (route.flags & publish_broadcast) && !route.pattern)
      add_unique(set.publish, route.channel);
  }
  ChannelSet rest = channels_for(identity, facility, flags & ~route_flag_mask, prefix);
  for (auto& channel : rest.subscribe) add_unique(set.subscribe, std::move(channel));
  for (auto& channel : rest.publish) add_unique(set.publish, std::move(channel));
  return set;
}

std::vector<std::string> live_only_keys(const std::vector<Route>& routes) {
  std::vector<std::string> keys;
  for (const Route& route : routes) {
    if (route.pattern)
      add_unique(keys, pattern_key(route.channel));
    else if (!route.replay)
      add_unique(keys, route.channel);
  }
  return keys;
}

}  // namespace wsrelay
