#include <wsrelay/slow_consumer.hpp>

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

namespace wsrelay {
namespace {

constexpr std::array<std::pair<std::string_view, SlowConsumerPolicy>, 3> kPolicies{{
    {"close", SlowConsumerPolicy::close},
    {"drop-oldest", SlowConsumerPolicy::drop_oldest},
    {"keep-latest", SlowConsumerPolicy::keep_latest},
}};

// What a facility may hold (docs/protocol.md §1), plus the two wildcards.
bool glob_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '*' || c == '?';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view to_string(SlowConsumerPolicy policy) {
  for (const auto& [name, value] : kPolicies)
    if (value == policy) return name;
  return "close";
}

std::optional<SlowConsumerRule> parse_slow_consumer_rule(std::string_view text,
                                                         std::string& error) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || text.find('=', eq + 1) != std::string_view::npos) {
    error =
        fmt::format("\"{}\": expected FACILITY_GLOB=POLICY, e.g. \"prices*=keep-latest\"", text);
    return std::nullopt;
  }
  const std::string_view glob = trim(text.substr(0, eq));
  const std::string_view name = trim(text.substr(eq + 1));
  if (glob.empty() || !std::all_of(glob.begin(), glob.end(), glob_char)) {
    error = fmt::format(
        "\"{}\": the glob must be facility characters (A-Z a-z 0-9 _ . -) with * and ?, got \"{}\"",
        text, glob);
    return std::nullopt;
  }
  for (const auto& [policy_name, policy] : kPolicies)
    if (policy_name == name) return SlowConsumerRule{std::string(glob), policy};
  error = fmt::format("\"{}\": policy must be close, drop-oldest or keep-latest, got \"{}\"", text,
                      name);
  return std::nullopt;
}

bool glob_match(std::string_view glob, std::string_view text) {
  // Greedy with one backtrack point (the last '*'): linear in practice, and
  // never worse than O(glob × text).
  std::size_t g = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == text[t])) {
      ++g;
      ++t;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

SlowConsumerPolicy policy_for(const std::vector<SlowConsumerRule>& rules,
                              std::string_view facility) {
  for (const SlowConsumerRule& rule : rules)
    if (glob_match(rule.glob, facility)) return rule.policy;
  return SlowConsumerPolicy::close;
}

}  // namespace wsrelay
