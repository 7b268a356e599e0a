#include <wsrelay/wire/auth_rules.hpp>

#include <fmt/format.h>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

constexpr std::string_view separators = " \t,";

bool is_separator(char c) {
  return separators.find(c) != std::string_view::npos;
}

// Calls `f` with every word of `text` separated by spaces, tabs or commas.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_separator(text[i])) ++i;
    std::size_t end = i;
    while (end < text.size() && !is_separator(text[end])) ++end;
    if (end > i) f(text.substr(i, end - i));
    i = end;
  }
}

}  // namespace

std::optional<Flags> flags_from_word(std::string_view word) {
  if (word == "*") return all_flags;
  if (word == "subscribe-*")
    return Flags(subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session);
  if (word == "publish-*") return publish_flags;
  if (auto flag = flag_from_name(word)) return Flags(*flag);
  return std::nullopt;
}

std::optional<StaticRule> parse_rule(std::string_view text, std::string& error) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    error = fmt::format("\"{}\": expected \"PATTERN: FLAG FLAG ...\"", text);
    return std::nullopt;
  }
  StaticRule rule;
  rule.pattern = std::string(trim(text.substr(0, colon), separators));
  if (auto reason = check_facility_pattern(rule.pattern); !reason.empty()) {
    error = reason;
    return std::nullopt;
  }
  for_each_word(text.substr(colon + 1), [&](std::string_view word) {
    if (!error.empty()) return;
    if (word == "require-user") {
      rule.require_user = true;
    } else if (auto flags = flags_from_word(word)) {
      rule.allow |= *flags;
    } else {
      error = fmt::format(
          "\"{}\": unknown word \"{}\" (flag names, subscribe-*, publish-*, *, require-user)", text,
          word);
    }
  });
  if (!error.empty()) return std::nullopt;
  return rule;
}

const StaticRule* find_rule(const std::vector<StaticRule>& rules, std::string_view facility) {
  for (const StaticRule& rule : rules)
    if (facility_matches(rule.pattern, facility)) return &rule;
  return nullptr;
}

Flags allowed_for(const std::vector<AllowEntry>& map, std::string_view facility) {
  const AllowEntry* best = nullptr;
  for (const AllowEntry& entry : map) {
    if (entry.pattern == facility) return entry.flags;
    if (facility_matches(entry.pattern, facility) &&
        (!best || entry.pattern.size() > best->pattern.size()))
      best = &entry;
  }
  return best ? best->flags : Flags(0);
}

Flags flags_from_list(std::string_view list) {
  Flags flags = 0;
  for_each_word(list, [&](std::string_view word) {
    if (auto f = flags_from_word(word)) flags |= *f;
  });
  return flags;
}

}  // namespace wsrelay
