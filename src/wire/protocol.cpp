#include <wsrelay/wire/protocol.hpp>

#include <algorithm>
#include <array>
#include <cctype>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

constexpr std::array<std::pair<std::string_view, Flag>, 9> flag_names{{
    {"subscribe-broadcast", subscribe_broadcast},
    {"subscribe-user", subscribe_user},
    {"subscribe-group", subscribe_group},
    {"subscribe-session", subscribe_session},
    {"publish-broadcast", publish_broadcast},
    {"publish-user", publish_user},
    {"publish-group", publish_group},
    {"publish-session", publish_session},
    {"echo", echo},
}};

void add_unique(std::vector<std::string>& list, std::string channel) {
  if (std::find(list.begin(), list.end(), channel) == list.end())
    list.push_back(std::move(channel));
}

}  // namespace

std::optional<Flag> flag_from_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [flag_name, flag] : flag_names)
    if (lower == flag_name) return flag;
  return std::nullopt;
}

std::string flags_to_string(Flags flags) {
  std::string out;
  for (const auto& [flag_name, flag] : flag_names) {
    if (!(flags & flag)) continue;
    if (!out.empty()) out += ',';
    out += flag_name;
  }
  return out;
}

bool valid_facility(std::string_view facility) {
  if (facility.empty() || facility.size() > 128) return false;
  bool only_dots = true;
  for (char c : facility) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
    if (c != '.') only_dots = false;
  }
  return !only_dots;
}

std::optional<std::variant<Target, TargetError>> parse_target(std::string_view target,
                                                              std::string_view base) {
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (path.size() < base.size() || path.substr(0, base.size()) != base) return std::nullopt;

  std::string_view raw_facility = path.substr(base.size());
  auto facility = percent_decode(raw_facility);
  if (!facility) return TargetError{400, "malformed percent-escape in the facility"};
  if (facility->empty()) return TargetError{400, "missing facility after " + std::string(base)};
  if (facility->size() > 128) return TargetError{400, "facility longer than 128 characters"};
  if (!valid_facility(*facility)) return TargetError{400, std::string(facility_rule)};

  Target result{std::move(*facility), 0};
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    std::string_view name = item.substr(0, item.find('='));
    if (auto flag = flag_from_name(name)) result.flags |= *flag;
  }
  return result;
}

std::string take_query_param(std::string& target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string::npos || name.empty()) return {};
  std::string_view query = std::string_view(target).substr(q + 1);
  std::string kept;
  std::optional<std::string> value;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = item.find('=');
    if (item.substr(0, eq) == name) {
      if (!value) value = percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
      if (!value) value = std::string();
      continue;
    }
    if (!kept.empty()) kept += '&';
    kept += item;
  }
  target.resize(kept.empty() ? q : q + 1);
  target += kept;
  return value.value_or(std::string());
}

std::string channel_name(std::string_view prefix, Audience audience, std::string_view key,
                         std::string_view facility) {
  std::string out;
  out.reserve(prefix.size() + key.size() + facility.size() + 12);
  if (!prefix.empty()) {
    out += prefix;
    out += ':';
  }
  switch (audience) {
    case Audience::broadcast:
      out += "broadcast:";
      break;
    case Audience::user:
      out += "user:";
      break;
    case Audience::group:
      out += "group:";
      break;
    case Audience::session:
      out += "session:";
      break;
  }
  if (audience != Audience::broadcast) {
    out += key;
    out += ':';
  }
  out += facility;
  return out;
}

ChannelSet channels_for(const Identity& identity, std::string_view facility, Flags flags,
                        std::string_view prefix) {
  ChannelSet set;
  auto add = [&](std::vector<std::string>& list, Flags broadcast_flag, Flags user_flag,
                 Flags group_flag, Flags session_flag) {
    if (flags & broadcast_flag)
      add_unique(list, channel_name(prefix, Audience::broadcast, {}, facility));
    if ((flags & user_flag) && identity.user && !identity.user->empty())
      add_unique(list, channel_name(prefix, Audience::user, *identity.user, facility));
    if (flags & group_flag)
      for (const auto& group : identity.groups)
        if (!group.empty())
          add_unique(list, channel_name(prefix, Audience::group, group, facility));
    if ((flags & session_flag) && identity.session && !identity.session->empty())
      add_unique(list, channel_name(prefix, Audience::session, *identity.session, facility));
  };
  add(set.subscribe, subscribe_broadcast, subscribe_user, subscribe_group, subscribe_session);
  add(set.publish, publish_broadcast, publish_user, publish_group, publish_session);
  return set;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::string select_subprotocol(std::string_view offered_header,
                               const std::vector<std::string>& accepted) {
  while (!offered_header.empty()) {
    auto comma = offered_header.find(',');
    std::string_view item = trim(offered_header.substr(0, comma));
    offered_header =
        comma == std::string_view::npos ? std::string_view{} : offered_header.substr(comma + 1);
    // RFC 6455 §4.1: a subprotocol is a token. Anything else is echoed into
    // the 101 answer if selected, so it is skipped, never selected.
    if (!is_token(item)) continue;
    if (accepted.empty()) return std::string(item);
    if (std::find(accepted.begin(), accepted.end(), item) != accepted.end())
      return std::string(item);
  }
  return {};
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view item = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(item.substr(0, eq)) != name) continue;
    std::string_view value = trim(item.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

bool valid_utf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t word;
      __builtin_memcpy(&word, s + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

}  // namespace wsrelay
