#include <wsrelay/wire/slow_consumer.hpp>

#include <array>
#include <utility>

#include <fmt/format.h>

#include <wsrelay/wire/facility_pattern.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

constexpr std::array<std::pair<std::string_view, SlowConsumerPolicy>, 3> kPolicies{{
    {"close", SlowConsumerPolicy::close},
    {"drop-oldest", SlowConsumerPolicy::drop_oldest},
    {"keep-latest", SlowConsumerPolicy::keep_latest},
}};

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
  if (!valid_facility_pattern(glob)) {
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

SlowConsumerPolicy policy_for(const std::vector<SlowConsumerRule>& rules,
                              std::string_view facility) {
  for (const SlowConsumerRule& rule : rules)
    if (facility_matches(rule.glob, facility)) return rule.policy;
  return SlowConsumerPolicy::close;
}

}  // namespace wsrelay
